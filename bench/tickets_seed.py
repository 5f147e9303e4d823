"""Seed one tenant with 100k tickets and 300k comments through the bulk path (target < 60 s).

    .venv/bin/python bench/tickets_seed.py [--slug bench-tickets] [--tickets 100000] [--comments 300000]

Provisions the tenant (idempotent, `tenant_provision`), adds users, teams, a category
tree, tags and two SLA policies (business hours for the service desk, 24x7 for
infrastructure), empties its tickets, then loads tickets and comments with PostgreSQL COPY
(tickets into a staging table) and writes the tickets with ONE `INSERT ... SELECT` that
computes every search vector (`apps.tickets.search`: title A, description B, resolution
note D, public comments C; the agents' vector adds internal comments), then fills the
search word list from them. The loaded tables' plain indexes (GIN included) and
foreign keys are dropped for the load and rebuilt / validated after it, under the same
names and definitions. Then every ticket gets the SLA clocks a real one carries (first
response and resolution, met, running, paused or breached as its status and times say)
through the SLA app's bulk path, `apps.sla.services.sla_attach_many` (policy match,
business-hours computation, binary COPY). Prints the time of each step.

This is a benchmark fixture, not a data import: the rows bypass the services, so no
policy decisions or audit events are written for them, and their `description_html` /
`body_html` are what the Markdown renderer gives for plain words (`<p>...</p>`).
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402
from environment import describe  # noqa: E402

from apps.tickets import search  # noqa: E402
from apps.tickets.priority import DEFAULT_MATRIX  # noqa: E402

PASSWORD = "bench-password-not-secret"
STATUSES = ["new"] * 10 + ["open"] * 30 + ["pending"] * 10 + ["resolved"] * 20 + ["closed"] * 25 + ["cancelled"] * 5
SOURCES = ["portal"] * 6 + ["api"] * 2 + ["email"] * 1 + ["servicenow"] * 1
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pra", "den", "gul", "hex", "zor", "wil", "bri", "qua"]
COMMON = [
    "the", "printer", "laptop", "vpn", "password", "reset", "email", "outlook", "teams", "network", "wifi",
    "screen", "keyboard", "mouse", "access", "account", "error", "crash", "slow", "login", "license",
    "install", "update", "server", "disk", "backup", "phone", "badge", "door", "meeting", "room", "calendar",
    "invoice", "payroll", "report", "excel", "word", "sharepoint", "folder", "permission", "ticket",
    "request", "issue", "problem", "please", "help", "urgent",
]


def vocabulary(rng: random.Random, size: int = 4000) -> tuple[list[str], list[float]]:
    """Words and their cumulative weights, Zipf-like: a few words are everywhere."""
    words = list(COMMON)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words, list(itertools.accumulate(1.0 / (rank + 8) for rank in range(len(words))))


def step(label: str, started: float, timings: list) -> float:
    now = time.perf_counter()
    timings.append((label, now - started))
    print(f"  {label:<44} {now - started:7.2f} s", flush=True)
    return now


def ensure_people(slug: str):
    from apps.accounts.models import Role, Team, User
    from apps.accounts.services import team_add_member, team_create, user_create

    admin = User.objects.get(email=f"admin@{slug}.test")
    agents = []
    for i in range(10):
        email = f"agent{i}@{slug}.test"
        user = User.objects.filter(email=email).first() or user_create(
            email=email, role=Role.AGENT, password=PASSWORD if i == 0 else None, full_name=f"Agent {i}",
            validate=False,
        )
        agents.append(user)
    requesters = list(User.objects.filter(email__startswith="requester", role=Role.REQUESTER).order_by("pk"))
    for i in range(len(requesters), 200):
        # Only requester0 signs in (bench/tickets_api.py uses tokens): no password hashing for the rest.
        requesters.append(user_create(
            email=f"requester{i}@{slug}.test", role=Role.REQUESTER, password=PASSWORD if i == 0 else None,
            validate=False,
        ))
    teams = []
    for name, members in (("Service Desk", agents[:5]), ("Infrastructure", agents[5:])):
        team = Team.objects.filter(name=name).first() or team_create(name=name, actor=admin)
        for member in members:
            team_add_member(team=team, user=member, actor=admin)
        teams.append((team, members))
    return admin, agents, requesters, teams


def ensure_taxonomy(admin):
    from apps.tickets import services
    from apps.tickets.models import Category, Tag

    if not Category.objects.exists():
        for root in ("Hardware", "Software", "Network", "Accounts", "Facilities"):
            parent = services.category_create(actor=admin, name=root)
            for child in range(5):
                services.category_create(actor=admin, name=f"{root} {child + 1}", parent=parent)
    if not Tag.objects.exists():
        for name in ("vip", "outage", "security", "hardware", "onboarding", "offboarding", "remote", "printer",
                     "billing", "mobile", "windows", "macos", "linux", "sso", "mfa", "backup", "license",
                     "escalated", "major-incident", "follow-up"):
            services.tag_create(actor=admin, name=name)
    return list(Category.objects.values_list("pk", flat=True)), list(Tag.objects.values_list("pk", flat=True))


def ensure_sla(admin) -> None:
    """Two policies, as a tenant would have them: the service desk on office hours, the
    infrastructure team around the clock (matched first: lower order)."""
    from datetime import time as clock_time

    from apps.accounts.models import Team
    from apps.sla import services as sla
    from apps.sla.models import SlaPolicy
    from apps.sla.validation import CalendarInput, PolicyInput, ShiftInput

    if SlaPolicy.objects.exists():
        return
    office = sla.sla_calendar_save(actor=admin, data=CalendarInput(
        name="Office hours", timezone="Europe/Warsaw", holiday_country="PL",
        shifts=[ShiftInput(day, clock_time(8), clock_time(18)) for day in range(5)],
    ))
    always = sla.sla_calendar_save(actor=admin, data=CalendarInput(name="24x7", always_open=True))
    minutes = {"P1": (30, 240), "P2": (60, 480), "P3": (240, 1440), "P4": (480, 4800)}
    targets = {p: {"first_response": first, "resolution": done} for p, (first, done) in minutes.items()}
    sla.sla_policy_save(actor=admin, data=PolicyInput(
        name="Infrastructure 24x7", calendar=always, targets=targets, order=10,
        teams=[Team.objects.get(name="Infrastructure")],
    ))
    sla.sla_policy_save(actor=admin, data=PolicyInput(name="Service desk", calendar=office, targets=targets, order=20))


class SeedTicket:
    """What `sla_attach_many` reads of a ticket, without loading 100k model instances."""

    __slots__ = ("pk", "priority", "category_id", "team_id", "status", "created_at", "first_response_at",
                 "resolved_at", "closed_at", "updated_at")

    def __init__(self, **values):
        for name, value in values.items():
            setattr(self, name, value)


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(sql) as copy:
        buffer = io.StringIO()
        for n, row in enumerate(rows, 1):
            buffer.write("\t".join(r"\N" if v is None else str(v) for v in row))
            buffer.write("\n")
            if n % 20000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


TICKET_COLUMNS = [
    "id", "number", "title", "description", "description_html", "requester_id", "assignee_id", "team_id",
    "category_id", "impact", "urgency", "priority", "status", "resolution_code", "resolution_note",
    "source", "first_response_at", "resolved_at", "closed_at", "last_reopened_at", "reopen_count",
    "created_at", "updated_at",
]

# The one statement that computes every search vector: staged tickets go into the real
# table with their vectors (as apps.tickets.search.REFRESH_SQL: title A, description B,
# resolution note D, public comments C; the agents' vector adds internal comments C), so
# each row is written once.
INSERT_WITH_VECTORS = f"""
INSERT INTO tickets_ticket ({", ".join(TICKET_COLUMNS)}, search_vector, search_vector_all)
SELECT {", ".join("v." + c for c in TICKET_COLUMNS)}, v.public, v.public || v.internal
FROM (
SELECT s.*,
       setweight(to_tsvector(%(cfg)s::regconfig, s.title), 'A')
         || setweight(to_tsvector(%(cfg)s::regconfig, s.description), 'B')
         || setweight(to_tsvector(%(cfg)s::regconfig, s.resolution_note), 'D')
         || setweight(to_tsvector(%(cfg)s::regconfig, coalesce(c.public, '')), 'C') AS public,
       setweight(to_tsvector(%(cfg)s::regconfig, coalesce(c.internal, '')), 'C') AS internal
FROM seed_ticket s
LEFT JOIN (
  SELECT ticket_id,
         string_agg(body, E'\\n' ORDER BY id) FILTER (WHERE NOT internal) AS public,
         string_agg(body, E'\\n' ORDER BY id) FILTER (WHERE internal) AS internal
  FROM tickets_ticketcomment GROUP BY ticket_id
) c ON c.ticket_id = s.id
) v
"""


LOADED_TABLES = ["tickets_ticket", "tickets_ticketcomment", "tickets_ticket_tags"]


def drop_for_load(cursor) -> list[str]:
    """Drop the loaded tables' foreign keys and plain indexes; return the statements that
    put them back. Rebuilding an index in one pass and validating a foreign key with one
    join is several times cheaper than maintaining them row by row during the load."""
    restore: list[str] = []
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.connamespace = current_schema()::regnamespace AND c.contype = 'f'
          AND c.conrelid::regclass::text = ANY(%s)
        ORDER BY 1, 2
        """,
        [LOADED_TABLES],
    )
    for table, name, definition in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                          WHERE c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace)
        ORDER BY 1
        """,
        [LOADED_TABLES],
    )
    indexes = cursor.fetchall()
    for name, _definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    # Indexes first, then the foreign keys (their validation uses the indexes).
    return [definition for _name, definition in indexes] + restore


def ts(value: datetime) -> str:
    return value.isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slug", default="bench-tickets")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--comments", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - reproducible fake data, not secrets
    timings: list = []
    total_started = started = time.perf_counter()

    from apps.tenants.services import tenant_provision

    tenant = tenant_provision(
        slug=args.slug, name="Bench tickets", region="eu", admin_email=f"admin@{args.slug}.test",
        admin_password=PASSWORD,
    ).tenant
    print(describe())
    print(f"Seeding tenant {tenant.slug} ({tenant.schema_name}): {args.tickets} tickets, {args.comments} comments")
    started = step("provision tenant (idempotent)", started, timings)

    with schema_context(tenant.schema_name):
        admin, agents, requesters, teams = ensure_people(args.slug)
        categories, tags = ensure_taxonomy(admin)
        ensure_sla(admin)
        started = step("people, teams, categories, tags, SLA policies", started, timings)

        words, cumulative = vocabulary(rng)
        started = step("vocabulary", started, timings)

        def text(low: int, high: int) -> str:
            return " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(low, high)))

        now = datetime.now(UTC)
        begin = now - timedelta(days=365)
        span = (now - begin).total_seconds()
        agent_ids = [a.pk for a in agents]
        requester_ids = [r.pk for r in requesters]
        team_members = [(team.pk, [m.pk for m in members]) for team, members in teams]

        ticket_rows = []
        sla_tickets: list[SeedTicket] = []
        created: list[datetime] = []
        for number in range(1, args.tickets + 1):
            created_at = begin + timedelta(seconds=span * number / (args.tickets + 1))
            created.append(created_at)
            impact, urgency = rng.randint(1, 3), rng.randint(1, 3)
            status = rng.choice(STATUSES)
            team_id, members = rng.choice(team_members) if rng.random() < 0.8 else (None, agent_ids)
            assignee = rng.choice(members) if status != "new" and rng.random() < 0.85 else None
            resolved = created_at + timedelta(hours=rng.randint(1, 240)) if status in ("resolved", "closed") else None
            closed = resolved + timedelta(days=3) if status == "closed" else None
            first_response = created_at + timedelta(minutes=rng.randint(5, 600)) if status != "new" else None
            description = text(20, 60)
            ticket_rows.append((
                number, number, text(4, 9).capitalize(), description, f"<p>{description}</p>",
                rng.choice(requester_ids), assignee, team_id, rng.choice(categories) if rng.random() < 0.9 else None,
                impact, urgency, DEFAULT_MATRIX[str(impact)][str(urgency)], status,
                "fixed" if resolved else "", "Done." if resolved else "", rng.choice(SOURCES),
                ts(first_response) if first_response else None, ts(resolved) if resolved else None,
                ts(closed) if closed else None, None, 0, ts(created_at), ts(closed or resolved or created_at),
            ))
            sla_tickets.append(SeedTicket(
                pk=number, priority=DEFAULT_MATRIX[str(impact)][str(urgency)], category_id=ticket_rows[-1][8],
                team_id=team_id, status=status, created_at=created_at, first_response_at=first_response,
                resolved_at=resolved, closed_at=closed, updated_at=closed or resolved or created_at,
            ))
        started = step("generate tickets", started, timings)

        comment_rows = []
        for comment_id in range(1, args.comments + 1):
            ticket_number = rng.randint(1, args.tickets)
            internal = rng.random() < 0.2
            author = rng.choice(agent_ids) if internal or rng.random() < 0.5 else ticket_rows[ticket_number - 1][5]
            body = text(8, 40)
            comment_rows.append((
                comment_id, ticket_number, author, body, f"<p>{body}</p>", "t" if internal else "f",
                ts(created[ticket_number - 1] + timedelta(minutes=rng.randint(1, 5000))),
            ))
        tag_rows = [(rng.randint(1, args.tickets), rng.choice(tags)) for _ in range(args.tickets // 3)]
        tag_rows = sorted(set(tag_rows))
        started = step("generate comments and tags", started, timings)

        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE tickets_ticketattachment, tickets_ticketcomment_mentions, tickets_ticketcomment, "
                "tickets_ticket_tags, tickets_ticket RESTART IDENTITY CASCADE"
            )
            restore = drop_for_load(cursor)
        started = step(f"truncate; drop {len(restore)} indexes and foreign keys", started, timings)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(
                "CREATE TEMP TABLE seed_ticket (LIKE tickets_ticket INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            raw = cursor.cursor  # the psycopg cursor, for COPY
            copy_rows(raw, "seed_ticket", TICKET_COLUMNS, ticket_rows)
            started = step(f"COPY {len(ticket_rows)} tickets (staging)", started, timings)
            copy_rows(raw, "tickets_ticketcomment",
                      ["id", "ticket_id", "author_id", "body", "body_html", "internal", "created_at"], comment_rows)
            started = step(f"COPY {len(comment_rows)} comments", started, timings)
            cursor.execute(INSERT_WITH_VECTORS, {"cfg": search.CONFIG})
            started = step("ONE INSERT..SELECT: tickets + search vectors", started, timings)
            cursor.execute("TRUNCATE tickets_searchword")
            cursor.execute(search.LEARN_ALL_SQL, search.learn_params())
            started = step("search word list (ts_stat)", started, timings)
            copy_rows(raw, "tickets_ticket_tags", ["ticket_id", "tag_id"], tag_rows)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('tickets_ticket', 'id'), %s), "
                "setval(pg_get_serial_sequence('tickets_ticketcomment', 'id'), %s)",
                [args.tickets, args.comments],
            )
            cursor.execute("UPDATE tickets_ticketcounter SET last_number = %s", [args.tickets])
        started = step(f"COPY {len(tag_rows)} ticket tags, counter, commit", started, timings)
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for statement in restore:
                cursor.execute(statement)
        started = step("rebuild indexes (GIN too), validate foreign keys", started, timings)
        from apps.sla.models import SlaClock
        from apps.sla.services import sla_attach_many

        with transaction.atomic():
            clocks = sla_attach_many(sla_tickets, now=now)
        started = step(f"SLA clocks: sla_attach_many, {clocks} clocks", started, timings)
        with connection.cursor() as cursor:
            for table in ("tickets_ticket", "tickets_ticketcomment", "tickets_ticket_tags", SlaClock._meta.db_table):
                cursor.execute(f"VACUUM ANALYZE {table}")
        started = step("VACUUM ANALYZE", started, timings)

    total = time.perf_counter() - total_started
    print(f"  {'TOTAL':<44} {total:7.2f} s  (target < 60 s)")


if __name__ == "__main__":
    main()
