"""Notifications at scale: one event told to 1,000 people on two channels, and what
notifications add to a ticket write.

    .venv/bin/python bench/notifications.py [--people 1000] [-n 300]

Works in a throwaway database `bench_notif_<pid>` (NOTIF_BENCH_DB=<name> reuses and keeps
one) with one tenant, DEBUG off as in production. Prints, with the load average and the database's durability settings:

1. **Fan-out**: a new ticket in a team of `--people` agents, each taking it by email and
   Slack (the shipped default). Timed from the ticket's commit until every delivery is
   done, on one worker process (the relay's code run back to back, as a worker does):
   the in-app entries, then one email each through a real SMTP server on 127.0.0.1
   (aiosmtpd) and one Slack message each through a fake Slack Web API on 127.0.0.1.
   Target < 10 s for 1,000 people.
2. **API ticket create**, `POST /api/v1/tickets/` through Django's test client, p50/p95
   over `-n` requests per mode, interleaved in blocks of 25: with the notifications
   subscriber registered (a delivery row per event) and without it. Target: no
   difference beyond noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environment import describe, load_line  # noqa: E402
from throwaway_db import drop_database, open_database  # noqa: E402

SLUG = "bench-notif"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def setup(people: int):
    from django.db import connection, transaction

    from apps.accounts.models import Role, Team, TeamMembership, User
    from apps.accounts.services import team_create
    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_provision

    connection.set_schema_to_public()
    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_provision(
        slug=SLUG, name="Notifications bench", region="eu", admin_email=f"admin@{SLUG}.test"
    ).tenant
    connection.set_tenant(tenant)
    with transaction.atomic():
        team = Team.objects.filter(name="Everyone").first() or team_create(name="Everyone", actor=None)
        existing = User.objects.filter(role=Role.AGENT).count()
        users = [User(email=f"agent{i}@{SLUG}.test", role=Role.AGENT, full_name=f"Agent {i}", is_active=True)
                 for i in range(existing, people)]
        for user in users:
            user.set_unusable_password()
        User.objects.bulk_create(users)
        TeamMembership.objects.bulk_create(
            [TeamMembership(team=team, user=u) for u in User.objects.filter(role=Role.AGENT)], ignore_conflicts=True
        )
    return tenant, team


def fakes(pipe, emails: dict[str, str]) -> None:
    """The outside world, in a process of its own (as a mail server and Slack are on other
    machines): a real SMTP server and the fake Slack Web API, both on 127.0.0.1. Sends
    their addresses, then, when told to stop, what they received."""
    from aiosmtpd.controller import Controller

    from tests.fakes.slack import FakeSlack
    from tests.workers import free_port

    class Sink:
        received = 0

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            Sink.received += 1
            return "250 OK"

    port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    with FakeSlack(users=emails, token="xoxb-bench") as slack:
        pipe.send((port, slack.url))
        pipe.recv()
        pipe.send((Sink.received, len(slack.posts), time.process_time()))
    smtp.stop()


def fan_out(team, people: int) -> None:
    import multiprocessing

    from django.conf import settings
    from django.db import transaction

    from apps.accounts.models import Role, User
    from apps.events.models import Delivery
    from apps.notifications.services.slack import slack_connect
    from apps.tickets.services import ticket_create

    emails = {u.email: f"U{u.pk}" for u in User.objects.filter(role=Role.AGENT)}
    ours, theirs = multiprocessing.Pipe()
    outside = multiprocessing.get_context("spawn").Process(target=fakes, args=(theirs, emails), daemon=True)
    outside.start()
    port, slack_url = ours.recv()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.WARDEN_NOTIFICATIONS_EMAIL_BURST_SECONDS = 0
    settings.WARDEN_SLACK_API_URL = slack_url
    admin = User.objects.filter(role=Role.ADMIN).first()
    slack_connect(actor=admin, bot_token="xoxb-bench")
    started, cpu = time.perf_counter(), time.process_time()
    with transaction.atomic():
        ticket_create(actor=admin, requester=admin, title="Everyone: the building is on fire", team=team)
    seconds, runs = work_off()
    done, cpu = time.perf_counter() - started, time.process_time() - cpu
    ours.send("stop")
    received, posts, outside_cpu = ours.recv()
    outside.join(10)
    print(f"\n1. Fan-out of one new ticket to {people:,} people, in the app, by email and in Slack ({load_line()})")
    print(f"   {done:.2f} s end to end on one worker ({runs} relay runs): {received:,} emails, "
          f"{posts:,} Slack messages (target < 10 s)")
    print(f"   CPU: the worker {cpu:.2f} s (all its threads); the fake mail server and Slack {outside_cpu:.2f} s "
          "(in their own process, on the same two cores)")
    left = Delivery.objects.exclude(status="done").count()
    if left:
        print(f"   NOT DONE: {left} deliveries left")


def work_off() -> tuple[float, int]:
    from apps.events import tasks
    from apps.events.services import kick

    kick.send_relay = lambda schema, **options: True
    started, runs = time.perf_counter(), 0
    while True:
        outcome = tasks.relay.run()
        runs += 1
        if not outcome["more"] and not outcome["claimed"]:
            break
    return time.perf_counter() - started, runs


def api_create(n: int) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from apps.accounts.models import Role, User
    from apps.accounts.services import token_issue
    from apps.events.consumers import CONSUMERS, register_subscriber, unregister
    from apps.tenants.services import tenant_domain

    settings.WARDEN_API_RATES = {key: "1000000/min" for key in settings.WARDEN_API_RATES}
    tenant = connection.tenant
    admin = User.objects.get(role=Role.ADMIN)
    client = Client(HTTP_HOST=tenant_domain(tenant.slug), HTTP_AUTHORIZATION=f"Token {token_issue(user=admin).key}")
    fanout = CONSUMERS.subscribers["notifications.fanout"]

    def mode(on: bool) -> None:
        if on and "notifications.fanout" not in CONSUMERS.subscribers:
            register_subscriber(fanout)
        if not on and "notifications.fanout" in CONSUMERS.subscribers:
            unregister("notifications.fanout")

    def one() -> float:
        started = time.perf_counter()
        response = client.post("/api/v1/tickets/", {"title": "Bench ticket"}, content_type="application/json")
        took = time.perf_counter() - started
        assert response.status_code == 201, response.content
        connection.set_tenant(tenant)
        return took * 1000

    times = {True: [], False: []}
    for on in (True, False):
        mode(on)
        for _ in range(15):
            one()
    for _ in range(max(1, n // 25)):
        for on in (False, True):
            mode(on)
            times[on].extend(one() for _ in range(25))
    mode(True)
    print(f"\n2. API ticket create, server-side, {len(times[True])} requests per mode, interleaved ({load_line()})")
    base = percentile(times[False], 95)
    for on, label in ((False, "without notifications"), (True, "with notifications")):
        p50, p95 = statistics.median(times[on]), percentile(times[on], 95)
        extra = f"   difference at p95 {p95 - base:+.2f} ms" if on else ""
        print(f"   {label:24s} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("-n", type=int, default=300, help="API requests per mode")
    parser.add_argument("--profile", action="store_true", help="print the fan-out's 30 costliest calls (cProfile)")
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "false")  # as a worker in production: no query log
    name, base, reused = open_database(prefix="bench_notif", reuse_env="NOTIF_BENCH_DB")
    try:
        print(describe())
        _tenant, team = setup(args.people)
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(fan_out, team, args.people)
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative"))
            stats.print_stats(os.environ.get("BENCH_PROFILE_FILTER", ""), 30)
        else:
            fan_out(team, args.people)
        api_create(args.n)
    finally:
        if not reused:
            drop_database(base, name)


if __name__ == "__main__":
    main()
