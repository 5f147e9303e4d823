"""GitHub's rows (issue 13, item 3), one schema per tenant like every connector row.

* `GitHubSettings`: per GitHub connector, what the inbound side needs: the webhook
  secret (encrypted with apps.core.secrets, write-only), the Warden user GitHub's
  changes are written as, the optional App installation id, what a closed issue does
  to its ticket and how imported comments are shown.
* `GitHubRepository`: the repositories a connector serves ("owner/name"); a delivery or
  an issue in any other repository is refused. Each keeps the reconciliation watermark
  (GitHub's clock: the newest `updated_at` already read).
* `GitHubIssueLink`: a ticket linked to one issue (created from the ticket or linked to
  an existing one). Metadata only: number, node id, URL, state; the title only in
  full-content tenants. `state` is what Warden has applied, so a change arriving twice
  (a webhook and the reconciliation) is applied once.
* `GitHubDelivery`: one verified webhook delivery, unique per connector on
  `X-GitHub-Delivery`, with what was extracted from it (never the raw payload) and
  what processing made of it.
* `GitHubAppliedComment`: a GitHub comment already turned into a ticket comment (by a
  delivery or the reconciliation), so it is never applied twice.

These live beside `models.py` (which imports them) rather than in the `github/` kind
package: that package calls the connectors client and models, and the import contract
forbids cycles between the modules of an app (docs/decisions/0023-github-webhooks.md).
Nothing here imports the rest of the app; relations are by name.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# What models.py takes over (the models; the vocabularies are imported from here).
__all__ = ["GitHubAppliedComment", "GitHubDelivery", "GitHubIssueLink", "GitHubRepository", "GitHubSettings"]


class ClosedIssueStatus(models.TextChoices):
    NONE = "", _("no change (a comment only)")
    PENDING = "pending", _("Pending")
    RESOLVED = "resolved", _("Resolved")


class CommentVisibility(models.TextChoices):
    INTERNAL = "internal", _("internal note (agents only)")
    PUBLIC = "public", _("public reply (the requester sees it)")


class LinkStatus(models.TextChoices):
    PENDING = "pending", _("waiting to be created on GitHub")
    SENDING = "sending", _("being created on GitHub")
    LINKED = "linked", _("linked")
    DRY_RUN = "dry_run", _("not created (dry run)")
    FAILED = "failed", _("creation failed")


class IssueState(models.TextChoices):
    UNKNOWN = "", _("unknown")
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", _("received, waiting")
    APPLIED = "applied", _("applied to the ticket")
    IGNORED = "ignored", _("nothing to do")
    REFUSED = "refused", _("refused (audited)")
    FAILED = "failed", _("could not be applied")


class GitHubSettings(models.Model):
    connector = models.OneToOneField("connectors.Connector", on_delete=models.CASCADE, primary_key=True,
                                     related_name="github_settings", verbose_name=_("connector"))
    webhook_secret = models.TextField(_("webhook secret (encrypted)"), blank=True, editable=False)
    webhook_secret_set_at = models.DateTimeField(_("webhook secret set"), null=True, blank=True, editable=False)
    act_as = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name=_("write GitHub's changes as"),
                               help_text=_("An agent or admin: the author of the ticket comments GitHub's changes "
                                           "become."))
    installation_id = models.BigIntegerField(_("GitHub App installation id"), null=True, blank=True,
                                             help_text=_("When set, deliveries naming another installation are "
                                                         "refused."))
    on_issue_closed_status = models.CharField(_("when the issue is closed, move the ticket to"), max_length=16,
                                              choices=ClosedIssueStatus.choices, blank=True,
                                              default=ClosedIssueStatus.NONE)
    comment_visibility = models.CharField(_("GitHub comments become"), max_length=16,
                                          choices=CommentVisibility.choices, default=CommentVisibility.INTERNAL)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("GitHub settings")
        verbose_name_plural = _("GitHub settings")

    def __str__(self) -> str:
        return f"GitHub settings of connector {self.connector_id}"

    def __repr__(self) -> str:
        return f"<GitHubSettings connector={self.connector_id}>"


class GitHubRepository(models.Model):
    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE,
                                  related_name="github_repositories", verbose_name=_("connector"))
    full_name = models.CharField(_("repository"), max_length=200, help_text=_("owner/name, as on GitHub."))
    created_at = models.DateTimeField(_("added"), default=timezone.now)
    reconciled_until = models.DateTimeField(_("reconciled up to"), null=True, blank=True,
                                            help_text=_("GitHub's time of the newest change already read."))
    last_reconciled_at = models.DateTimeField(_("last reconciliation"), null=True, blank=True)
    last_reconcile_detail = models.CharField(_("last reconciliation said"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("GitHub repository")
        verbose_name_plural = _("GitHub repositories")
        ordering = ["connector_id", "full_name"]
        constraints = [models.UniqueConstraint(fields=["connector", "full_name"], name="github_repository_once")]

    def __str__(self) -> str:
        return self.full_name


class GitHubIssueLink(models.Model):
    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="github_links",
                                  verbose_name=_("connector"))
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="github_links",
                               verbose_name=_("ticket"))
    repo = models.CharField(_("repository"), max_length=200)
    number = models.PositiveIntegerField(_("issue number"), null=True, blank=True)
    node_id = models.CharField(_("node id"), max_length=100, blank=True)
    url = models.CharField(_("URL"), max_length=500, blank=True)
    title = models.CharField(_("title"), max_length=300, blank=True,
                             help_text=_("Kept only when the organisation keeps full content."))
    state = models.CharField(_("issue state"), max_length=8, choices=IssueState.choices, blank=True)
    state_reason = models.CharField(_("state reason"), max_length=32, blank=True)
    remote_updated_at = models.DateTimeField(_("updated on GitHub"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=LinkStatus.choices, default=LinkStatus.LINKED)
    error = models.CharField(_("error"), max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(_("creation attempts"), default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("linked by"))
    created_at = models.DateTimeField(_("linked"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("GitHub issue link")
        verbose_name_plural = _("GitHub issue links")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "repo", "number"], name="github_link_issue_once",
                                    condition=models.Q(number__isnull=False)),
            models.UniqueConstraint(fields=["connector", "ticket", "repo"], name="github_link_ticket_repo_once"),
        ]

    def __str__(self) -> str:
        return f"{self.repo}#{self.number}" if self.number else f"{self.repo} ({self.status})"


class GitHubDelivery(models.Model):
    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="github_deliveries",
                                  verbose_name=_("connector"))
    guid = models.CharField(_("delivery id"), max_length=64, help_text=_("X-GitHub-Delivery"))
    event = models.CharField(_("event"), max_length=32)
    action = models.CharField(_("action"), max_length=32, blank=True)
    repo = models.CharField(_("repository"), max_length=200, blank=True)
    number = models.PositiveIntegerField(_("issue number"), null=True, blank=True)
    data = models.JSONField(_("what it said"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.RECEIVED)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("GitHub delivery")
        verbose_name_plural = _("GitHub deliveries")
        ordering = ["-received_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["connector", "guid"], name="github_delivery_once")]
        indexes = [models.Index(fields=["connector", "-received_at"], name="github_delivery_recent")]

    def __str__(self) -> str:
        return f"{self.event}.{self.action} {self.guid}"


class GitHubAppliedComment(models.Model):
    link = models.ForeignKey(GitHubIssueLink, on_delete=models.CASCADE, related_name="applied_comments",
                             verbose_name=_("issue link"))
    comment_id = models.BigIntegerField(_("GitHub comment id"))
    ticket_comment = models.ForeignKey("tickets.TicketComment", on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+", verbose_name=_("ticket comment"))
    source = models.CharField(_("applied by"), max_length=16)  # "webhook" or "reconcile"
    applied_at = models.DateTimeField(_("applied"), default=timezone.now)

    class Meta:
        verbose_name = _("applied GitHub comment")
        verbose_name_plural = _("applied GitHub comments")
        constraints = [models.UniqueConstraint(fields=["link", "comment_id"], name="github_comment_once")]

    def __str__(self) -> str:
        return f"GitHub comment {self.comment_id}"
