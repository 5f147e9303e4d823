"""Triage: how fast the rules propose, and how long an approval takes to land in ServiceNow.

    .venv/bin/python bench/triage.py [--tickets 2000] [--rules 30] [--approvals 60]

Works in a throwaway database `bench_triage_<pid>` (TRIAGE_BENCH_DB=<name> reuses and keeps
one) with one tenant provisioned as any new tenant is (metadata-only), `--rules` triage
rules of which only the last three can match (every ticket is tried against the others
first), and its own Celery broker (Redis database 9 of the local Redis). Prints, with the
load average:

1. **Rules path**: `--tickets` tickets imported in bulk (`ticket_import_many`), then
   (a) their triage runs started as the `triage.classify` subscriber does for an imported
   page (`runs_start_many`, 500 at a time: the runs and their steps, the rules tried in
   order, the proposals with their audit event and `triage.proposal.created` events, each
   run left waiting for the decision), one process: tickets classified and proposed per
   second, target >= 200/s; (b) for 100 of them, the single path (`run_create` +
   `run_advance`, what a ticket the language model classifies goes through), per ticket.
2. **Approval to write-back applied**: the fake ServiceNow (`python -m fakes.servicenow`,
   its own process) with `--approvals` incidents imported through the real connector
   (poll, `ticket.imported`, runs waiting), and a real Celery worker (`celery -A config
   worker`, solo pool) on the bench broker. For each proposal, one after the other: the
   time from calling `proposal_decide` (as the desk's request does: policy, the ticket
   updated, the decision, its audit event and event, the commit, the relay kicked) until
   the fake's incident shows the approved urgency (polled every 5 ms over HTTP): the
   relay task, the `triage.runs` subscriber, the `triage.run_advance` task, the governed
   write-back (policy, cap, GET, PATCH, records). Target p95 <= 1 s.

3. **ServiceNow change detected to Slack card posted, with the language model**: a new
   incident in the fake ServiceNow that no rule matches, one after the other; from the
   start of the poll that imports it (the change detected) until the fake Slack Web API
   (in this process, on 127.0.0.1) receives the card: the import, the relay task, the
   `triage.classify` subscriber, the `triage.run_advance` task asking the fake language
   model (an OpenAI-compatible server in this process) and storing the proposal, the relay
   task again, the `triage.slack_card_post` subscriber and its `chat.postMessage`.
   Target p95 <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["CELERY_BROKER_URL"] = os.environ.get("TRIAGE_BENCH_BROKER", "redis://127.0.0.1:63799/9")

from environment import describe, load_line  # noqa: E402
from throwaway_db import ROOT, drop_database, open_database  # noqa: E402

SLUG = "bench-triage"
TOKEN = "bench-triage-token"  # noqa: S105 - the fake's, on loopback


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def setup_tenant():
    from django.db import connection

    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_provision

    connection.set_schema_to_public()
    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_provision(
        slug=SLUG, name="Triage bench", region="eu", admin_email=f"admin@{SLUG}.test"
    ).tenant
    connection.set_tenant(tenant)
    return tenant


def setup_rules(count: int):
    from apps.accounts.models import Role, Team, User
    from apps.accounts.services import team_create
    from apps.tickets.services import category_create
    from apps.triage.models import Rule
    from apps.triage.services import rule_save

    admin = User.objects.get(role=Role.ADMIN)
    if Rule.objects.exists():
        return admin
    network = category_create(actor=admin, name="Network")
    team = Team.objects.filter(name="Service Desk").first() or team_create(name="Service Desk", actor=admin)
    for i in range(count - 3):  # never match: keywords no ticket has
        rule_save(actor=admin, rule=Rule(name=f"Unused {i}", position=i, keywords=f"zzunused{i}, qqnever{i}",
                                         set_team=team, confidence=Decimal("0.8")))
    rule_save(actor=admin, rule=Rule(name="Printers", position=900, keywords="printer, toner", set_team=team,
                                     confidence=Decimal("0.8")))
    rule_save(actor=admin, rule=Rule(name="VPN", position=901, pattern=r"\bvpn\b", set_category=network,
                                     confidence=Decimal("0.8")))
    rule_save(actor=admin, rule=Rule(name="ServiceNow incidents", position=902, source="servicenow", set_urgency=1,
                                     work_note="Urgent: routed by Warden triage.", confidence=Decimal("0.9")))
    return admin


def rules_path(admin, tickets: int, rules: int) -> None:
    from apps.tickets.services import ImportRow, ticket_import_many
    from apps.triage.models import Proposal
    from apps.triage.services.bulk import runs_start_many
    from apps.triage.services.runs import run_advance, run_create

    rows = [ImportRow(title=f"Bench ticket {i}", description="The printer on floor 2 is out of toner.",
                      requester_id=admin.pk) for i in range(tickets)]
    ids = []
    for start in range(0, tickets, 500):
        ids.extend(t.pk for t in ticket_import_many(actor=admin, rows=rows[start:start + 500], source="email"))
    single, bulk = ids[:100], ids[100:]
    started = time.perf_counter()
    for start in range(0, len(bulk), 500):  # as the subscriber gets them: one delivery per imported page
        runs_start_many(ticket_ids=bulk[start:start + 500])
    seconds = time.perf_counter() - started
    proposed = Proposal.objects.filter(ticket_id__in=bulk, status="pending").count()
    print(f"\n1. Rules path ({load_line()})")
    print(f"   (a) imported in pages of 500: {len(bulk):,} tickets classified and proposed in {seconds:.2f} s "
          f"({proposed:,} proposals, each found after {rules - 3} rules that did not match): "
          f"{len(bulk) / seconds:,.0f} tickets/s (target >= 200/s)")
    started = time.perf_counter()
    for ticket_id in single:
        run_advance(run_id=run_create(ticket_id=ticket_id).pk)
    seconds = time.perf_counter() - started
    print(f"   (b) one at a time (the single path: a ticket a language model classifies): {len(single)} tickets in "
          f"{seconds:.2f} s, {seconds / len(single) * 1000:.0f} ms each")


def raise_write_cap(admin) -> None:
    """The baseline's connector-write rule with its approval and cap obligations, the cap
    raised for the run (it would stop the run after a few dozen writes)."""
    from apps.policies.baseline import BASELINE_RULES
    from apps.policies.services import policy_publish

    rules = json.loads(json.dumps(BASELINE_RULES))
    for rule in rules:
        if rule["action"] == "connector.write":
            rule["obligations"]["cap"]["limit"] = 1_000_000
    policy_publish(actor=admin, rules=rules, comment="bench: connector write cap raised")


def start_fake() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "fakes.servicenow", "--port", "0", "--token", TOKEN],  # noqa: S603
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return process, json.loads(process.stdout.readline())["url"]


def start_worker(log: Path, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "WARDEN_WORKER_METRICS_PORT": "0", "WARDEN_CONNECTORS_ALLOW_LOOPBACK": "1", **extra}
    with log.open("w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "--pool",  # noqa: S603
                                   "solo", "--without-heartbeat", "--without-mingle", "--without-gossip",
                                   "-n", f"bench-triage-{os.getpid()}@%h"], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the Celery worker did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)
    return worker


def approvals(admin, count: int) -> None:
    import requests
    from django.conf import settings

    from apps.connectors.servicenow.models import IncidentLink
    from apps.connectors.servicenow.services import servicenow_poll
    from apps.connectors.services.connectors import connector_create
    from apps.events.services.relay import relay_run
    from apps.triage.models import Run
    from apps.triage.services import proposal_decide
    from apps.triage.services.runs import run_sweep

    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True
    raise_write_cap(admin)
    fake, url = start_fake()
    log = Path(tempfile.gettempdir()) / f"bench-triage-worker-{os.getpid()}.log"
    worker = None
    try:
        requests.post(f"{url}/_fake/seed", json={"count": count + 1, "step_seconds": 0.2,
                                                 "fields": {"state": "2", "urgency": "2"}}, timeout=60)
        connector = connector_create(actor=admin, kind="servicenow", name="bench", base_url=url, secret=TOKEN,
                                     dry_run=False, daily_write_cap=100_000)
        servicenow_poll(connector=connector, max_pages=100, run_seconds=600)
        for _ in range(20):
            if not relay_run(budget_seconds=60).claimed:
                break
        run_sweep()
        links = dict(IncidentLink.objects.values_list("ticket_id", "sys_id"))
        runs = list(Run.objects.filter(ticket_id__in=links, state="waiting").select_related("proposal"))
        worker = start_worker(log)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        latencies = []
        for run in runs[:count + 1]:  # the first one warms the worker up (its connections, imports): not counted
            sys_id = links[run.ticket_id]
            started = time.perf_counter()
            proposal_decide(actor=admin, proposal_id=run.proposal_id, verdict="approve", version=run.proposal.version)
            deadline = started + (30 if latencies else 180)  # the first waits for the backlog of the runs above
            while time.perf_counter() < deadline:
                record = session.get(f"{url}/api/now/table/incident/{sys_id}", params={"sysparm_fields": "urgency"},
                                     timeout=5).json()["result"]
                if record["urgency"] == "1":
                    break
                time.sleep(0.005)
            else:
                run.proposal.refresh_from_db()
                raise SystemExit(f"the write-back of run {run.pk} did not land in 30 s (write-back: "
                                 f"{run.proposal.writeback_status or 'not yet'} {run.proposal.writeback_detail}); "
                                 f"worker log: {log}")
            latencies.append(time.perf_counter() - started)
        first, latencies = latencies[0], latencies[1:]
        print(f"\n2. Approval to write-back applied, a real worker, one approval after the other ({load_line()})")
        print(f"   {len(latencies)} approvals: p50 {statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms (target p95 <= 1 s); "
              f"the first one after the worker started, not counted: {first * 1000:.0f} ms")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        fake.terminate()
        fake.wait(timeout=10)


def card_latency(admin, count: int) -> None:
    import requests
    from django.conf import settings

    from apps.connectors.models import Connector
    from apps.connectors.servicenow.services import servicenow_poll
    from apps.notifications.services.slack import slack_approvals_configure, slack_connect
    from apps.triage.models import Rule
    from apps.triage.models_llm import LlmKind, LlmProvider
    from apps.triage.services.llm import llm_provider_save
    from fakes.llm import FakeLLM
    from tests.fakes.slack import FakeSlack

    bot = "xoxb-bench-token"  # noqa: S105 - the fake's
    settings.WARDEN_CONNECTORS_ALLOW_LOOPBACK = True
    Rule.objects.filter(source="servicenow").update(enabled=False)  # the incidents go to the language model
    fake, url = start_fake()
    log = Path(tempfile.gettempdir()) / f"bench-triage-cards-{os.getpid()}.log"
    worker = None
    with FakeSlack(token=bot) as slack, FakeLLM() as model:
        try:
            settings.WARDEN_SLACK_API_URL = slack.url
            slack_connect(actor=admin, bot_token=bot)
            slack_approvals_configure(actor=admin, signing_secret="benchsigningsecret0123456789abcdef",
                                      approvals_channel="CBENCH")
            if not LlmProvider.objects.exists():
                llm_provider_save(actor=admin, api_key="bench-llm-key", provider=LlmProvider(
                    kind=LlmKind.OPENAI, base_url=f"{model.url}/v1", region="eu", model="bench-model",
                    timeout_seconds=10, max_output_tokens=300, monthly_token_cap=100_000_000))
            connector = Connector.objects.get(name="bench")
            from apps.connectors.services.connectors import connector_update

            connector = connector_update(actor=admin, connector=connector, base_url=url, secret=TOKEN)
            servicenow_poll(connector=connector, max_pages=100, run_seconds=600)  # the watermark past the seed
            worker = start_worker(log, WARDEN_SLACK_API_URL=slack.url)
            latencies = []
            for i in range(count + 1):  # the first one warms the worker up: not counted
                before = len(slack.posts)
                requests.post(f"{url}/_fake/incidents", json={"state": "2", "impact": "3", "urgency": "3",
                                                             "short_description": f"Odd noise {i}"}, timeout=10)
                for _ in range(50):  # a poll reads up to the second it starts: the one that imports it is "detected"
                    started = time.perf_counter()
                    if servicenow_poll(connector=connector, max_pages=10, run_seconds=60).imported:
                        break
                    time.sleep(0.1)
                deadline = started + 30
                while len(slack.posts) == before:
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"no card for incident {i} in 30 s; worker log: {log}")
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - started)
            first, latencies = latencies[0], latencies[1:]
            print(f"\n3. ServiceNow change detected to Slack card posted, language model ({load_line()})")
            print(f"   {len(latencies)} incidents: p50 {statistics.median(latencies) * 1000:.0f} ms, "
                  f"p95 {percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
                  f"(target p95 <= 2 s); the first one, not counted: {first * 1000:.0f} ms")
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            fake.terminate()
            fake.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=2000, help="tickets for the rules path")
    parser.add_argument("--rules", type=int, default=30, help="triage rules (only the last three can match)")
    parser.add_argument("--approvals", type=int, default=60, help="approvals for the write-back latency")
    parser.add_argument("--cards", type=int, default=40, help="incidents for the change-to-card latency")
    args = parser.parse_args()
    name, base, reused = open_database(prefix="bench_triage", reuse_env="TRIAGE_BENCH_DB")
    try:
        print(describe())
        setup_tenant()
        admin = setup_rules(max(args.rules, 4))
        rules_path(admin, args.tickets, max(args.rules, 4))
        approvals(admin, args.approvals)
        card_latency(admin, args.cards)
    finally:
        if not reused:
            drop_database(base, name)


if __name__ == "__main__":
    main()
