"""The reconciliation against the fake GitHub: what dropped deliveries missed is applied
once, what deliveries applied is not applied again, lists are read page by page within
a bound (the watermark carries on from where a run stopped), rate limits are waited out
or leave the watermark alone, and the periodic task is registered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apps.connectors.github.reconcile import github_deliveries_prune, github_reconcile
from apps.connectors.models import GitHubAppliedComment, GitHubDelivery, GitHubRepository
from apps.tickets.models import TicketComment
from tests.connectors.github_support import REPO


def test_what_dropped_deliveries_missed_is_applied_once(github, gh_connector, linked, gh_ticket, hook, admin_user):
    from apps.connectors.github.configure import github_settings_update

    github_settings_update(actor=admin_user, connector=gh_connector, on_issue_closed_status="resolved")
    github.drop_deliveries = True
    github.comment(REPO, 1, "Root cause found")
    github.comment(REPO, 1, "Fix released")
    github.close_issue(REPO, 1, state_reason="completed")
    assert github.pending == []
    assert [d.dropped for d in github.deliveries[-3:]] == [True, True, True]

    result = github_reconcile(sleep=lambda s: None)
    assert result.applied == 3
    gh_ticket.refresh_from_db()
    assert gh_ticket.status == "resolved"
    assert gh_ticket.resolution_code == "fixed"
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 3
    assert set(GitHubAppliedComment.objects.values_list("source", flat=True)) == {"reconcile"}
    repository = GitHubRepository.objects.get(connector=gh_connector)
    assert repository.reconciled_until is not None
    gh_connector.refresh_from_db()
    assert gh_connector.last_sync_at is not None

    # A second run finds nothing new to apply.
    assert github_reconcile(sleep=lambda s: None).applied == 0
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 3
    # The lists were asked for with since, state=all and paging.
    listed = [r.path for r in github.requests if r.method == "GET" and "/issues?" in r.path]
    assert all("since=" in path and "state=all" in path and "per_page=100" in path for path in listed)


def test_what_deliveries_applied_is_not_applied_again(github, gh_connector, linked, gh_ticket, hook, relay):
    github.comment(REPO, 1, "delivered")
    github.close_issue(REPO, 1)
    hook.deliver()
    relay()
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 2
    github.drop_deliveries = True
    github.comment(REPO, 1, "missed")
    result = github_reconcile(sleep=lambda s: None)
    assert result.applied == 1
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 3
    assert sorted(GitHubAppliedComment.objects.values_list("source", flat=True)) == ["reconcile", "webhook"]


def test_long_lists_are_read_page_by_page_within_the_bound(github, gh_connector, gh_ticket, agent_user, settings):
    from apps.connectors.github.issues import github_issue_link

    settings.WARDEN_GITHUB_RECONCILE_MAX_PAGES = 2
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]

    def tick():
        clock[0] += timedelta(seconds=1)
        return clock[0]

    github.clock = tick
    github.drop_deliveries = True
    for n in range(1, 251):
        github.open_issue(REPO, f"issue {n}")
    link = github_issue_link(actor=agent_user, ticket=gh_ticket, connector=gh_connector, repo=REPO, number=250)
    GitHubRepository.objects.filter(connector=gh_connector).update(reconciled_until=datetime(2029, 12, 31, tzinfo=UTC))
    for n in range(1, 250):  # 249 other issues change first, the linked one last
        github.comment(REPO, n, "bump")
    github.close_issue(REPO, 250)
    link.created_at = datetime(2029, 12, 31, tzinfo=UTC)
    link.save(update_fields=["created_at"])

    first = github_reconcile(sleep=lambda s: None)
    assert first.repositories[0].truncated is True
    assert first.repositories[0].issues_read == 200
    assert first.applied == 0
    watermark = GitHubRepository.objects.get(connector=gh_connector).reconciled_until
    assert watermark > datetime(2030, 1, 1, tzinfo=UTC)

    pages = [r.path for r in github.requests if "/issues?" in r.path and "page=2" in r.path]
    assert pages  # the Link header's next page was followed
    second = github_reconcile(sleep=lambda s: None)
    assert second.applied >= 1
    link.refresh_from_db()
    assert link.state == "closed"
    assert TicketComment.objects.filter(ticket=gh_ticket).count() == 1  # the close; comments were on other issues


def test_a_short_rate_limit_is_waited_out(github, gh_connector, linked, gh_ticket):
    github.drop_deliveries = True
    github.comment(REPO, 1, "after the limit")
    github.throttle(1, retry_after=1)
    slept = []
    assert github_reconcile(sleep=slept.append).applied == 1
    assert slept == [1.0]


def test_a_long_rate_limit_leaves_the_watermark_for_the_next_run(github, gh_connector, linked, gh_ticket):
    github.drop_deliveries = True
    github.comment(REPO, 1, "later")
    before = GitHubRepository.objects.get(connector=gh_connector).reconciled_until
    github.throttle(1, retry_after=3600)
    result = github_reconcile(sleep=lambda s: None)
    assert result.repositories[0].error
    repository = GitHubRepository.objects.get(connector=gh_connector)
    assert repository.reconciled_until == before
    assert repository.last_reconcile_detail.startswith("Stopped")
    assert github_reconcile(sleep=lambda s: None).applied == 1


def test_the_task_is_periodic_and_prunes_old_deliveries(gh_connector, tenant):
    from apps.connectors.github.tasks import github_reconcile_task
    from apps.core import periodic

    entry = next(e for e in periodic.SCHEDULE if e.name == "connectors-github-reconcile")
    assert entry.tenant_task == "connectors.github_reconcile"
    GitHubDelivery.objects.create(connector=gh_connector, guid="old", event="issues", status="applied",
                                  received_at=datetime(2020, 1, 1, tzinfo=UTC))
    GitHubDelivery.objects.create(connector=gh_connector, guid="waiting", event="issues", status="received",
                                  received_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert github_reconcile_task.apply().get() == 0
    assert list(GitHubDelivery.objects.values_list("guid", flat=True)) == ["waiting"]
    assert github_deliveries_prune() == 0
