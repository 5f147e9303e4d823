"""Tenant admin for the tickets taxonomy and a supervised view of tickets.

Writes with side effects (archive, merge, ticket field changes, assignment, tag
deletion, the priority matrix) go through the services, so they are policy-checked and
audited like every other write. Status changes are not made here: use the workflow.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from apps.accounts import permissions
from apps.core.admin import WardenModelAdmin
from apps.core.errors import ApplicationError

from . import conf, services
from .models import Category, PriorityMatrix, Tag, Ticket, TicketAttachment, TicketComment
from .priority import MatrixInvalid, validate_matrix
from .text import text_errors


def _report(modeladmin, request, exc: ApplicationError) -> None:
    modeladmin.message_user(request, exc.message, level=messages.ERROR)


class MergeForm(forms.Form):
    target = forms.ModelChoiceField(
        queryset=Category.objects.filter(archived=False).order_by("name"),
        label=_("Merge into"),
        help_text=_("Tickets and sub-categories move to this category; the merged ones are archived."),
    )


@admin.register(Category)
class CategoryAdmin(WardenModelAdmin):
    list_display = ["name", "parent", "archived", "ticket_count", "created_at"]
    list_select_related = ["parent"]
    list_filter = ["archived"]
    search_fields = ["name"]
    fields = ["name", "parent", "archived", "created_at"]
    readonly_fields = ["archived", "created_at"]
    actions = ["archive_selected", "merge_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ticket_total=Count("tickets"))

    @admin.display(description=_("tickets"), ordering="ticket_total")
    def ticket_count(self, obj: Category) -> int:
        return getattr(obj, "ticket_total", 0)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # categories are archived or merged, never deleted (tickets point at them)

    @admin.action(description=_("Archive selected categories (and their sub-categories)"))
    def archive_selected(self, request, queryset):
        archived = 0
        for category in queryset.order_by("pk"):
            try:
                archived += len(services.category_archive(actor=request.user, category=category))
            except ApplicationError as exc:
                _report(self, request, exc)
        self.message_user(request, _("%(n)d categories archived.") % {"n": archived}, level=messages.SUCCESS)

    @admin.action(description=_("Merge selected categories into another one…"))
    def merge_selected(self, request, queryset):
        sources = list(queryset.order_by("name"))
        if "apply" in request.POST:
            form = MergeForm(request.POST)
            if form.is_valid():
                target = form.cleaned_data["target"]
                moved = 0
                for source in sources:
                    try:
                        moved += services.category_merge(actor=request.user, source=source, target=target)["tickets"]
                    except ApplicationError as exc:
                        _report(self, request, exc)
                self.message_user(
                    request,
                    _("Merged into %(target)s; %(n)d tickets moved.") % {"target": target.name, "n": moved},
                    level=messages.SUCCESS,
                )
                return None
        else:
            form = MergeForm()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Merge categories"),
            "sources": sources,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/tickets/category/merge.html", context)


@admin.register(Tag)
class TagAdmin(WardenModelAdmin):
    list_display = ["name", "ticket_count", "created_at"]
    search_fields = ["name"]
    fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(ticket_total=Count("tickets"))

    @admin.display(description=_("tickets"), ordering="ticket_total")
    def ticket_count(self, obj: Tag) -> int:
        return getattr(obj, "ticket_total", 0)

    def delete_model(self, request, obj):
        services.tag_delete(actor=request.user, tag=obj)

    def delete_queryset(self, request, queryset):
        for tag in queryset:
            services.tag_delete(actor=request.user, tag=tag)


class ReadOnlyInline(admin.TabularInline):
    """Shown to whoever may use the admin site (the one permission module), never edited."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None) -> bool:
        return permissions.can_use_admin_site(request.user)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class CommentInline(ReadOnlyInline):
    model = TicketComment
    fields = ["created_at", "author", "internal", "body"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


class AttachmentInline(ReadOnlyInline):
    model = TicketAttachment
    fields = ["created_at", "original_name", "size", "content_type", "visibility", "scan_status", "uploaded_by"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("uploaded_by")


class TicketAdminForm(forms.ModelForm):
    class Meta:
        model = Ticket
        fields = ["title", "description", "category", "tags", "impact", "urgency", "team", "assignee"]

    def clean(self):
        cleaned = super().clean()
        for name, checks in (
            ("title", {"required": True, "single_line": True, "max_chars": 200, "label": "The title"}),
            ("description", {"max_bytes": conf.get("WARDEN_TICKETS_BODY_MAX_BYTES"), "label": "The description"}),
        ):
            for message in text_errors(cleaned.get(name) or "", **checks):
                self.add_error(name, message)
        category = cleaned.get("category")
        if "category" in self.changed_data and category is not None and category.archived:
            self.add_error("category", _("This category is archived."))
        return cleaned


@admin.register(Ticket)
class TicketAdmin(WardenModelAdmin):
    list_display = ["number", "title", "status", "priority", "requester", "assignee", "team", "category", "created_at"]
    list_display_links = ["number", "title"]
    list_select_related = ["requester", "assignee", "team", "category"]
    list_filter = ["status", "priority", "source"]
    search_fields = ["=number", "title"]
    ordering = ["-number"]
    show_full_result_count = False
    autocomplete_fields = ["assignee", "team"]
    fields = [
        "number", "title", "status", "priority", "impact", "urgency", "category", "tags", "team", "assignee",
        "requester", "source", "description", "resolution_code", "resolution_note",
        "created_at", "updated_at", "first_response_at", "resolved_at", "closed_at",
    ]
    readonly_fields = [
        "number", "status", "priority", "requester", "source", "resolution_code", "resolution_note",
        "created_at", "updated_at", "first_response_at", "resolved_at", "closed_at",
    ]
    filter_horizontal = ["tags"]
    inlines = [CommentInline, AttachmentInline]

    UPDATE_FIELDS = ("title", "description", "category", "impact", "urgency")
    ASSIGN_FIELDS = ("assignee", "team")

    def has_add_permission(self, request) -> bool:
        return False  # tickets are opened in the portal, the API or by connectors

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    form = TicketAdminForm

    def save_model(self, request, obj, form, change):
        changed = set(form.changed_data)
        update = {name: form.cleaned_data[name] for name in self.UPDATE_FIELDS if name in changed}
        if "tags" in changed:
            update["tags"] = [tag.name for tag in form.cleaned_data["tags"]]
        assign = {name: form.cleaned_data[name] for name in self.ASSIGN_FIELDS if name in changed}
        original = Ticket.objects.get(pk=obj.pk)
        try:
            if update:
                original = services.ticket_update(actor=request.user, ticket=original, **update)
            if assign:
                services.ticket_assign(actor=request.user, ticket=original, **assign)
        except ApplicationError as exc:
            _report(self, request, exc)

    def save_related(self, request, form, formsets, change):
        # Tags were saved by ticket_update (not form.save_m2m). The inlines are read-only:
        # commit=False writes nothing, it only fills what the change message reads.
        for formset in formsets:
            formset.save(commit=False)


class PriorityMatrixForm(forms.ModelForm):
    def clean_matrix(self):
        try:
            return validate_matrix(self.cleaned_data.get("matrix"))
        except MatrixInvalid as exc:
            raise forms.ValidationError(str(exc)) from exc

    class Meta:
        model = PriorityMatrix
        fields = ["matrix"]
        help_texts = {
            "matrix": _('Impact -> urgency -> priority, 1 = high: {"1": {"1": "P1", "2": "P2", "3": "P3"}, ...}'),
        }


@admin.register(PriorityMatrix)
class PriorityMatrixAdmin(WardenModelAdmin):
    form = PriorityMatrixForm
    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return not PriorityMatrix.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        try:
            services.priority_matrix_set(actor=request.user, matrix=form.cleaned_data["matrix"])
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        saved = PriorityMatrix.objects.get(singleton=True)
        obj.pk, obj.matrix = saved.pk, saved.matrix
