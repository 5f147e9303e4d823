"""Shapes of the tickets API. Input serializers check shape only (types, choices, lengths,
no field they do not declare: `apps.core.serializers.InputSerializer`); every rule lives in
the services. Output serializers never reach past what the
selectors loaded (no queries per row)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.serializers import InputSerializer

from ..choices import Level, Priority, ResolutionCode, ScanStatus, TicketSource, TicketStatus, Visibility
from ..extensions import ticket_fields
from ..markdown import sanitize_html
from ..models import Ticket, TicketComment
from ..search import SOURCES as SEARCH_SOURCES
from ..search import hit as search_hit

MAX_ID = 2**63 - 1
LEVEL_HELP = "1 high, 2 medium, 3 low."


@extend_schema_field({"type": "string", "enum": list(TicketStatus.values)})
class StatusChoiceField(serializers.ChoiceField):
    """A target status (documented inline: the `status` enum component belongs to output)."""

    def __init__(self, **kwargs):
        super().__init__(choices=TicketStatus.choices, **kwargs)


def LevelField(**kwargs) -> serializers.IntegerField:  # noqa: N802
    return serializers.IntegerField(min_value=1, max_value=3, help_text=LEVEL_HELP, **kwargs)


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802  (reads like a field class)
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# --- Problem details (documentation of error responses) ---------------------------------


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    request_id = serializers.CharField(required=False, allow_blank=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation problems: field -> messages.",
    )
    retry_after = serializers.IntegerField(required=False)


# --- References ---------------------------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    full_name = serializers.CharField(read_only=True)


class TeamOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)


class CategoryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)
    archived = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class CategoryCreateInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=100)
    parent = IdField(required=False, allow_null=True, default=None)


# --- Tickets ------------------------------------------------------------------------------


class SearchHitSerializer(serializers.Serializer):
    """Why a ticket is in the results of a search (`q`)."""

    title_html = serializers.CharField(
        read_only=True, help_text="The title as HTML: the text escaped, the words the search matched in <mark>."
    )
    snippet_html = serializers.CharField(
        read_only=True,
        help_text="The text where the words were found, as HTML like title_html: whole up to 240 characters, "
        "else up to two fragments joined by ' … '; empty when only the title or the number matched.",
    )
    snippet_source = serializers.ChoiceField(
        choices=SEARCH_SOURCES, read_only=True, allow_null=True,
        help_text="Where the snippet comes from (internal_comment: agents only).",
    )
    number = serializers.BooleanField(read_only=True, help_text="The search was this ticket's number (7 or #7).")


class TicketOutputSerializer(serializers.Serializer):
    """Declared field by field (not a ModelSerializer): nothing is introspected per request."""

    number = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True, help_text="Markdown, as written.")
    description_html = serializers.SerializerMethodField(help_text="Rendered and sanitised HTML.")
    status = serializers.ChoiceField(choices=TicketStatus.choices, read_only=True)
    priority = serializers.ChoiceField(choices=Priority.choices, read_only=True)
    impact = serializers.IntegerField(read_only=True, help_text=LEVEL_HELP)
    urgency = serializers.IntegerField(read_only=True, help_text=LEVEL_HELP)
    category = CategoryRefSerializer(read_only=True, allow_null=True)
    team = TeamOutputSerializer(read_only=True, allow_null=True)
    assignee = UserRefSerializer(read_only=True, allow_null=True)
    requester = UserRefSerializer(read_only=True)
    tags = serializers.SerializerMethodField()
    source = serializers.ChoiceField(choices=TicketSource.choices, read_only=True)
    resolution_code = serializers.ChoiceField(
        choices=ResolutionCode.choices, allow_blank=True, read_only=True, help_text="Blank until resolved."
    )
    resolution_note = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    first_response_at = serializers.DateTimeField(read_only=True, allow_null=True)
    resolved_at = serializers.DateTimeField(read_only=True, allow_null=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    follow_up_of = serializers.SerializerMethodField(
        help_text="The number of the closed ticket this one follows up (the requester replied on it after it "
        "was resolved or closed, and this ticket carries the reply); null for most tickets."
    )

    search = serializers.SerializerMethodField(
        help_text="Lists searched with q only: why the ticket matched. Null otherwise."
    )

    def get_fields(self):
        """The declared fields, then the blocks higher apps registered (`extensions`):
        `sla` from the SLA app."""
        fields = super().get_fields()
        for extension in ticket_fields():
            fields[extension.name] = extension.field()
        return fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_description_html(self, obj: Ticket) -> str:
        return sanitize_html(obj.description_html)

    @extend_schema_field(SearchHitSerializer(allow_null=True))
    def get_search(self, obj: Ticket) -> dict | None:
        hit = search_hit(obj)  # a list searched with highlight=True (selectors.ticket_list)
        if hit is None:
            return None
        return {"title_html": str(hit.title_html), "snippet_html": str(hit.snippet_html),
                "snippet_source": hit.source, "number": hit.number}

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_follow_up_of(self, obj: Ticket) -> int | None:
        if hasattr(obj, "follow_up_of_number"):  # annotated by the selectors
            return obj.follow_up_of_number
        return obj.follow_up_of.number if obj.follow_up_of_id is not None else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, obj: Ticket) -> list[str]:
        names = getattr(obj, "tag_names", None)  # aggregated by the selectors
        if names is None:
            names = [tag.name for tag in obj.tags.all()]
        return sorted(names, key=str.lower)


class TicketCreateInputSerializer(InputSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    category = IdField(required=False, allow_null=True, default=None)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list, max_length=20)
    impact = LevelField(required=False, default=Level.MEDIUM)
    urgency = LevelField(required=False, default=Level.MEDIUM)
    requester = IdField(required=False, help_text="Agents only: open the ticket for this user.")
    team = IdField(required=False, allow_null=True, help_text="Agents only.")
    assignee = IdField(required=False, allow_null=True, help_text="Agents only.")


class TicketUpdateInputSerializer(InputSerializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    category = IdField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=20)
    impact = LevelField(required=False)
    urgency = LevelField(required=False)
    assignee = IdField(required=False, allow_null=True, help_text="An agent's user id, or null to unassign.")
    team = IdField(required=False, allow_null=True, help_text="A team id, or null.")


class TicketTransitionInputSerializer(InputSerializer):
    to = StatusChoiceField()
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000,
        help_text="Required to reopen a resolved ticket and to cancel.",
    )
    resolution_code = serializers.ChoiceField(
        choices=ResolutionCode.choices, required=False, allow_blank=True, default="",
        help_text="Required when resolving.",
    )
    resolution_note = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required when resolving."
    )


# --- Comments -----------------------------------------------------------------------------


class CommentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    body = serializers.CharField(read_only=True, help_text="Markdown, as written.")
    body_html = serializers.SerializerMethodField(help_text="Rendered and sanitised HTML.")
    internal = serializers.BooleanField(read_only=True)
    author = UserRefSerializer(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_body_html(self, obj: TicketComment) -> str:
        return sanitize_html(obj.body_html)


class CommentCreateInputSerializer(InputSerializer):
    body = serializers.CharField(trim_whitespace=False)
    internal = serializers.BooleanField(required=False, default=False, help_text="Agents only; never shown to requesters.")


# --- Attachments --------------------------------------------------------------------------


class AttachmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    file_name = serializers.CharField(source="original_name", read_only=True, help_text="Plain text, never HTML.")
    size = serializers.IntegerField(read_only=True)
    content_type = serializers.CharField(read_only=True, help_text="Sniffed from the content, not the client's claim.")
    sha256 = serializers.CharField(read_only=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, read_only=True)
    scan_status = serializers.ChoiceField(choices=ScanStatus.choices, read_only=True)
    comment = serializers.IntegerField(source="comment_id", read_only=True, allow_null=True)
    uploaded_by = UserRefSerializer(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class AttachmentCreateInputSerializer(InputSerializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False, default=Visibility.PUBLIC)
    comment = IdField(required=False, allow_null=True, default=None)


class DownloadLinkOutputSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires_at = serializers.DateTimeField()

