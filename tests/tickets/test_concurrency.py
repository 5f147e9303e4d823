"""Writes that must not race: two connections, committed data (a throwaway tenant).

Each test holds the first writer's transaction open after its service call and only then
lets the second writer in. Without the service's lock the second one would not see the
first one's uncommitted work and both would succeed; with it, the second waits for the
commit, sees the first write and is refused.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from apps.core.errors import ApplicationError
from apps.tickets import services
from apps.tickets.errors import CooldownActive
from apps.tickets.models import Category, TicketComment


def test_the_cooldown_locks_the_author_only_when_there_is_one(ticket, requester_user, settings):
    """(Also makes pytest-django create the test database when this module runs alone:
    `fresh_tenant` does not ask for it.)"""
    from django.test.utils import CaptureQueriesContext

    def locks_author(body: str) -> bool:
        with CaptureQueriesContext(connection) as queries:
            services.comment_add(actor=requester_user, ticket=ticket, body=body)
        return any(q["sql"].endswith("FOR NO KEY UPDATE") and 'FROM "accounts_user"' in q["sql"]
                   for q in queries.captured_queries)

    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    assert not locks_author("no cooldown, no lock")
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 5
    TicketComment.objects.update(created_at=ticket.created_at.replace(year=2000))
    assert locks_author("cooldown on")


def test_the_cooldown_neither_locks_nor_checks_agents(ticket, agent_user, settings):
    from django.test.utils import CaptureQueriesContext

    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 5
    services.comment_add(actor=agent_user, ticket=ticket, body="first")
    with CaptureQueriesContext(connection) as queries:
        services.comment_add(actor=agent_user, ticket=ticket, body="second")
    sql = [q["sql"] for q in queries.captured_queries]
    assert not any('FROM "accounts_user"' in q and q.endswith("FOR NO KEY UPDATE") for q in sql), sql


def race(tenant, first, second, *, hold: float = 0.6) -> tuple[list, list]:
    """Run `first` in a transaction kept open `hold` seconds after it returned; start
    `second` (in its own transaction) once `first` has returned. Returns (results, errors)
    of the two, in that order."""
    started = threading.Event()
    results: list = [None, None]
    errors: list = [None, None]

    def run(index, work, before=None, after=None):
        try:
            connection.set_tenant(tenant)
            if before is not None:
                before.wait(timeout=10)
            with transaction.atomic():
                results[index] = work()
                if after is not None:
                    after.set()
                    time.sleep(hold)
        except BaseException as exc:  # noqa: BLE001  (reported to the test)
            errors[index] = exc
            if after is not None:
                after.set()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(0, first, None, started)),
               threading.Thread(target=run, args=(1, second, started, None))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


@pytest.mark.slow
def test_concurrent_comments_of_one_author_respect_the_cooldown(fresh_tenant, settings):
    from apps.accounts.models import Role, User
    from apps.accounts.services import user_create

    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 60
    author = user_create(email=f"writer@{fresh_tenant.slug}.test", role=Role.REQUESTER, password=None,
                         validate=False)
    ticket = services.ticket_create(actor=author, title="Racing comments")

    def comment(text):
        return lambda: services.comment_add(actor=User.objects.get(pk=author.pk), ticket=ticket, body=text)

    results, errors = race(fresh_tenant, comment("first"), comment("second"))
    assert errors[0] is None, errors
    assert isinstance(errors[1], CooldownActive), errors
    assert 50 <= errors[1].retry_after <= 61
    assert list(TicketComment.objects.filter(ticket=ticket).values_list("body", flat=True)) == ["first"]


@pytest.mark.slow
def test_concurrent_category_moves_cannot_close_a_loop(fresh_tenant):
    from apps.accounts.models import User

    admin = User.objects.get(email=f"admin@{fresh_tenant.slug}.test")
    a = services.category_create(actor=admin, name="A")
    b = services.category_create(actor=admin, name="B")

    def move(child, parent):
        return lambda: services.category_update(actor=User.objects.get(pk=admin.pk), category=child, parent=parent.pk)

    results, errors = race(fresh_tenant, move(a, b), move(b, a))
    assert errors[0] is None, errors
    assert isinstance(errors[1], ApplicationError), errors
    assert "inside" in errors[1].errors["parent"][0]
    parents = dict(Category.objects.values_list("name", "parent__name"))
    assert parents == {"A": "B", "B": None}
