"""Tickets, comments, attachments, categories, tags and the tenant's priority matrix.

Data and invariants only: every write goes through `services.py`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import (
    URGENCY_CHOICES,
    Level,
    Priority,
    ResolutionCode,
    ResolvedReply,
    ScanStatus,
    TicketSource,
    TicketStatus,
    Visibility,
)
from .priority import DEFAULT_MATRIX


class Category(models.Model):
    """A node of the tenant's category tree. Archived categories take no new tickets."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    archived = models.BooleanField(_("archived"), default=False)
    default_team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("default team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="default_for_categories",
        help_text=_("New tickets in this category (and in its sub-categories without a team of their own) "
                    "go to this team's queue."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "parent",
                name="tickets_category_unique_name_in_parent",
                violation_error_message=_("A category with this name already exists here."),
            ),
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(parent__isnull=True),
                name="tickets_category_unique_root_name",
                violation_error_message=_("A top-level category with this name already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="tickets_tag_unique_name", violation_error_message=_("This tag already exists.")
            )
        ]

    def __str__(self) -> str:
        return self.name


class PriorityMatrix(models.Model):
    """The tenant's impact x urgency -> priority table (at most one row)."""

    singleton = models.BooleanField(default=True, editable=False)
    matrix = models.JSONField(_("matrix"), default=dict)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("priority matrix")
        verbose_name_plural = _("priority matrix")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="tickets_prioritymatrix_single"),
            models.CheckConstraint(condition=models.Q(singleton=True), name="tickets_prioritymatrix_singleton_true"),
        ]

    def __str__(self) -> str:
        return "Priority matrix"

    @classmethod
    def default(cls) -> dict:
        return {impact: dict(row) for impact, row in DEFAULT_MATRIX.items()}


class DeskSettings(models.Model):
    """The tenant's help-desk settings (one row, created by a data migration, so every
    schema cloned from the base has it; changed through `services.desk_settings_update`)."""

    AUTO_CLOSE_MAX_DAYS = 365

    singleton = models.BooleanField(default=True, editable=False)
    default_team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("default team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("New tickets whose category has no team (or that have no category) go to this team's queue."),
    )
    resolved_reply = models.CharField(
        _("a requester's reply on a resolved ticket"),
        max_length=16,
        choices=ResolvedReply.choices,
        default=ResolvedReply.REOPEN,
        help_text=_("A reply on a closed ticket always opens a linked follow-up ticket."),
    )
    auto_close_days = models.PositiveSmallIntegerField(
        _("close resolved tickets after (days)"),
        default=7,
        help_text=_("Resolved tickets close by themselves this many days after resolution; 0 = never."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("help-desk settings")
        verbose_name_plural = _("help-desk settings")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="tickets_desksettings_single"),
            models.CheckConstraint(condition=models.Q(singleton=True), name="tickets_desksettings_singleton_true"),
            models.CheckConstraint(
                condition=models.Q(auto_close_days__lte=365), name="tickets_desksettings_auto_close_days_max"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Help-desk settings"))


class TicketCounter(models.Model):
    """The last ticket number handed out in this tenant (one row, locked while numbering)."""

    singleton = models.BooleanField(default=True, editable=False)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="tickets_ticketcounter_single"),
            models.CheckConstraint(condition=models.Q(singleton=True), name="tickets_ticketcounter_singleton_true"),
        ]

    def __str__(self) -> str:
        return f"Last ticket number: {self.last_number}"


class Ticket(models.Model):
    number = models.PositiveIntegerField(_("number"), unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description (Markdown)"), blank=True)
    description_html = models.TextField(_("description (HTML)"), blank=True, editable=False)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requester"), on_delete=models.PROTECT, related_name="requested_tickets",
        db_index=False,  # tickets_requester_number leads with it
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
        db_index=False,  # tickets_assignee_number leads with it
    )
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets",
        db_index=False,  # tickets_team_number leads with it
    )
    category = models.ForeignKey(
        Category, verbose_name=_("category"), null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="tickets")
    impact = models.PositiveSmallIntegerField(_("impact"), choices=Level.choices, default=Level.MEDIUM)
    urgency = models.PositiveSmallIntegerField(_("urgency"), choices=Level.choices, default=Level.MEDIUM)
    priority = models.CharField(_("priority"), max_length=2, choices=Priority.choices, default=Priority.P3)
    status = models.CharField(_("status"), max_length=16, choices=TicketStatus.choices, default=TicketStatus.NEW)
    resolution_code = models.CharField(_("resolution code"), max_length=32, choices=ResolutionCode.choices, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True)
    source = models.CharField(_("source"), max_length=16, choices=TicketSource.choices, default=TicketSource.PORTAL)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    last_reopened_at = models.DateTimeField(_("last reopened"), null=True, blank=True)
    reopen_count = models.PositiveIntegerField(_("times reopened"), default=0)
    follow_up_of = models.ForeignKey(
        "self",
        verbose_name=_("follow-up of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_ups",
        help_text=_("The closed ticket the requester replied on; this ticket carries that reply."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, db_index=True)
    # Title (A), description (B), resolution note (D), public comments (C): what the
    # requester may read; the agents' vector adds internal comments (C), so a requester's
    # search never matches text they may not read (apps/tickets/search.py).
    search_vector = SearchVectorField(null=True, editable=False)
    search_vector_all = SearchVectorField(null=True, editable=False)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-number"]
        indexes = [
            GinIndex(fields=["search_vector"], name="tickets_search_gin"),
            GinIndex(fields=["search_vector_all"], name="tickets_search_all_gin"),
            models.Index(fields=["status", "-number"], name="tickets_status_number"),
            models.Index(fields=["priority", "-number"], name="tickets_priority_number"),
            models.Index(fields=["requester", "-number"], name="tickets_requester_number"),
            models.Index(fields=["assignee", "-number"], name="tickets_assignee_number"),
            models.Index(fields=["team", "-number"], name="tickets_team_number"),
            # The auto-close sweep: resolved tickets by resolution time.
            models.Index(
                fields=["resolved_at", "id"], name="tickets_resolved_at_id", condition=models.Q(status="resolved")
            ),
            # The desk's title sort (keyset pagination on lower(title), number).
            models.Index(Lower("title"), "number", name="tickets_title_lower_number"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(impact__gte=1, impact__lte=3), name="tickets_ticket_impact_1_3"),
            models.CheckConstraint(condition=models.Q(urgency__gte=1, urgency__lte=3), name="tickets_ticket_urgency_1_3"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    def get_urgency_display(self) -> str:
        """The urgency as an urgency ("Wysoka" in Polish), not as a bare level."""
        return str(dict(URGENCY_CHOICES).get(self.urgency, self.urgency))


class TicketComment(models.Model):
    # Both foreign keys lead a composite index below: a single-column one would only cost writes.
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments", db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("author"), on_delete=models.PROTECT, related_name="ticket_comments",
        db_index=False,
    )
    body = models.TextField(_("body (Markdown)"))
    body_html = models.TextField(_("body (HTML)"), blank=True, editable=False)
    internal = models.BooleanField(_("internal"), default=False, help_text=_("Never shown to the requester."))
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("mentions"), blank=True, related_name="ticket_mentions"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="tickets_comment_ticket_time"),
            models.Index(fields=["author", "-created_at"], name="tickets_comment_author_time"),
        ]

    def __str__(self) -> str:
        return f"Comment {self.pk} on #{self.ticket.number}" if self.ticket_id else f"Comment {self.pk}"


def attachment_path(instance: TicketAttachment, filename: str) -> str:
    """Where the bytes live, relative to the tenant's storage: never the user's file name."""
    return f"tickets/attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class TicketAttachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments",
                               db_index=False)  # tickets_attachment_ticket_time leads with it
    comment = models.ForeignKey(
        TicketComment, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=255)
    original_name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    content_type = models.CharField(_("type"), max_length=100)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    visibility = models.CharField(_("visibility"), max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC)
    scan_status = models.CharField(_("scan status"), max_length=16, choices=ScanStatus.choices)
    scan_detail = models.CharField(_("scan detail"), max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="tickets_attachment_ticket_time")]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_internal(self) -> bool:
        return self.visibility == Visibility.INTERNAL

    @property
    def downloadable(self) -> bool:
        return self.scan_status == ScanStatus.CLEAN


class SavedView(models.Model):
    """A named queue filter of the agent desk: personal (owner) or shared with a team."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="saved_views",
    )
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("team"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="saved_views",
    )
    name = models.CharField(_("name"), max_length=100)
    query = models.JSONField(_("query"), default=dict)  # {"status": ["open"], "q": "...", "ordering": "-updated_at"}
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(owner__isnull=False, team__isnull=True)
                | models.Q(owner__isnull=True, team__isnull=False),
                name="tickets_savedview_owner_xor_team",
                violation_error_message=_("A saved view belongs to a person or to a team."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SearchWord(models.Model):
    """A word of the tenant's ticket text as the search configuration stores it (lower
    case, accents removed) with its English stem: the forms a typed word is widened to
    (apps/tickets/search.py, ADR 0020). Written by the same writes as the search vectors,
    never edited. No unique index: two transactions adding the same new word at once both
    add it rather than one waiting for the other; readers take distinct words."""

    word = models.TextField()
    stem = models.TextField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["word"], name="tickets_searchword_word"),
            models.Index(fields=["stem"], name="tickets_searchword_stem"),
            GinIndex(fields=["word"], name="tickets_searchword_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return self.word
