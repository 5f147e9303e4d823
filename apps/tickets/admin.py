"""Tenant admin for the tickets taxonomy and a supervised view of tickets.

Every write goes through the services, so it is policy-checked and audited like every
other write: adding and changing categories, tags, tickets and the priority matrix runs
the service while the form validates (`ServiceModelForm`), so a refusal is a form error
and nothing is claimed; archive, merge and tag deletion are actions calling services.
Status changes are not made here: use the workflow.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.accounts import permissions
from apps.accounts.admin_site import AuditedByServicesMixin, WardenModelAdmin
from apps.core.errors import ApplicationError

from . import services
from .choices import URGENCY_CHOICES, Level
from .models import Category, DeskSettings, PriorityMatrix, Tag, Ticket, TicketAttachment, TicketComment
from .priority import LEVELS, PRIORITIES, MatrixInvalid, priority_for, validate_matrix

PRIORITY_CHOICES = [(priority, priority) for priority in PRIORITIES]


def _report(modeladmin, request, exc: ApplicationError) -> None:
    modeladmin.message_user(request, exc.message, level=messages.ERROR)


class ServiceModelForm(forms.ModelForm):
    """A ModelForm whose save is a service call, made as the last step of validation.

    Django's admin says "changed successfully" once the form is valid and only then calls
    `save_model`, where a refused write (policy, rule, conflict) could at best become an
    error message next to the success message. Here the service runs while the form
    validates, inside the admin's transaction: an ApplicationError becomes form errors and
    the page is shown again with nothing written; on success `instance` is the object the
    service returned and `ServiceModelAdmin` has nothing left to save.

    ModelForm's own `_post_clean` is not run: it would copy the input onto `instance`
    before the service reads it, and re-check the model's constraints that the services
    check themselves, with their messages.
    """

    request = None  # bound by ServiceModelAdmin.get_form
    raw_text_fields: tuple[str, ...] = ()  # handed to the service unstripped (it checks control characters first)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.raw_text_fields:
            if name in self.fields:
                self.fields[name].strip = False

    def save_through_service(self, actor):
        """Save the cleaned data through the tickets services; every form subclass says how."""
        raise ImproperlyConfigured(f"{type(self).__name__} must define save_through_service()")

    def _post_clean(self) -> None:
        if self.errors:
            return
        try:
            self.instance = self.save_through_service(self.request.user)
        except ApplicationError as exc:
            self._add_service_errors(exc)

    def _add_service_errors(self, exc: ApplicationError) -> None:
        placed = False
        for field, field_messages in exc.errors.items():
            for message in field_messages:
                self.add_error(field if field in self.fields else None, message)
                placed = True
        if not placed or exc.message not in sum(exc.errors.values(), []):
            self.add_error(None, exc.message)


class ServiceModelAdmin(AuditedByServicesMixin, WardenModelAdmin):
    """Add and change through a `ServiceModelForm`: the form has saved when it is valid."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved by the service while the form validated

    def save_related(self, request, form, formsets, change) -> None:
        pass  # many-to-many fields and inlines are the service's business too


class CategoryForm(ServiceModelForm):
    raw_text_fields = ("name",)

    class Meta:
        model = Category
        fields = ["name", "parent", "default_team"]

    def save_through_service(self, actor):
        data = self.cleaned_data
        if self.instance.pk is None:
            return services.category_create(actor=actor, name=data["name"], parent=data.get("parent"),
                                            default_team=data.get("default_team"))
        return services.category_update(actor=actor, category=self.instance, name=data["name"],
                                        parent=data.get("parent"), default_team=data.get("default_team"))


class TagForm(ServiceModelForm):
    raw_text_fields = ("name",)

    class Meta:
        model = Tag
        fields = ["name"]

    def save_through_service(self, actor):
        if self.instance.pk is None:
            return services.tag_create(actor=actor, name=self.cleaned_data["name"])
        return services.tag_rename(actor=actor, tag=self.instance, name=self.cleaned_data["name"])


class MergeForm(forms.Form):
    target = forms.ModelChoiceField(
        queryset=Category.objects.filter(archived=False).order_by("name"),
        label=_("Merge into"),
        help_text=_("Tickets and sub-categories move to this category; the merged ones are archived."),
    )


@admin.register(Category)
class CategoryAdmin(ServiceModelAdmin):
    form = CategoryForm
    list_display = ["name", "parent", "default_team", "archived", "ticket_count", "created_at"]
    list_select_related = ["parent", "default_team"]
    list_filter = ["archived"]
    search_fields = ["name"]
    fields = ["name", "parent", "default_team", "archived", "created_at"]
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
class TagAdmin(ServiceModelAdmin):
    form = TagForm
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


class TicketAdminForm(ServiceModelForm):
    """Title, description, category, tags, impact and urgency through `ticket_update`;
    team and assignee through `ticket_assign`; both in one transaction."""

    raw_text_fields = ("title", "description")
    UPDATE_FIELDS = ("title", "description", "category", "impact", "urgency")
    ASSIGN_FIELDS = ("assignee", "team")

    class Meta:
        model = Ticket
        fields = ["title", "description", "category", "tags", "impact", "urgency", "team", "assignee"]

    def save_through_service(self, actor):
        changed = set(self.changed_data)
        data = self.cleaned_data
        update = {name: data[name] for name in self.UPDATE_FIELDS if name in changed}
        if "tags" in changed:
            update["tags"] = [tag.name for tag in data["tags"]]
        assign = {name: data[name] for name in self.ASSIGN_FIELDS if name in changed}
        ticket = self.instance
        with transaction.atomic():
            if update:
                ticket = services.ticket_update(actor=actor, ticket=ticket, **update)
            if assign:
                ticket = services.ticket_assign(actor=actor, ticket=ticket, **assign)
        return ticket


@admin.register(Ticket)
class TicketAdmin(ServiceModelAdmin):
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
        "requester", "source", "follow_up_of", "description", "resolution_code", "resolution_note",
        "created_at", "updated_at", "first_response_at", "resolved_at", "closed_at",
    ]
    readonly_fields = [
        "number", "status", "priority", "requester", "source", "follow_up_of", "resolution_code", "resolution_note",
        "created_at", "updated_at", "first_response_at", "resolved_at", "closed_at",
    ]
    filter_horizontal = ["tags"]
    inlines = [CommentInline, AttachmentInline]

    form = TicketAdminForm

    def has_add_permission(self, request) -> bool:
        return False  # tickets are opened in the portal, the API or by connectors

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_inline_instances(self, request, obj=None):
        # The inlines only show comments and attachments. On a POST they are left out, so
        # that no formset can fail validation after the form's service call has written.
        if request.method == "POST":
            return []
        return super().get_inline_instances(request, obj)


class PriorityGridWidget(forms.MultiWidget):
    """The impact x urgency table: one select of P1..P4 per cell, rows impact, columns urgency."""

    template_name = "admin/tickets/prioritymatrix/grid_widget.html"

    def __init__(self, attrs=None):
        widgets = {
            f"{impact}_{urgency}": forms.Select(
                choices=PRIORITY_CHOICES,
                attrs={"aria-label": _("Impact %(impact)s, urgency %(urgency)s") % {
                    "impact": Level(impact).label, "urgency": Level(urgency).label}},
            )
            for impact in LEVELS
            for urgency in LEVELS
        }
        super().__init__(widgets, attrs)

    def decompress(self, value):
        # What is in force: a cell a damaged stored matrix lacks falls back to the default.
        return [priority_for(impact, urgency, value if isinstance(value, dict) else None)
                for impact in LEVELS for urgency in LEVELS]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        cells = context["widget"]["subwidgets"]
        context["widget"]["urgencies"] = [dict(URGENCY_CHOICES)[level] for level in LEVELS]
        context["widget"]["rows"] = [
            {"label": Level(impact).label, "cells": cells[row * len(LEVELS):(row + 1) * len(LEVELS)]}
            for row, impact in enumerate(LEVELS)
        ]
        return context


class PriorityGridField(forms.MultiValueField):
    """Nine priorities in, the matrix (impact -> urgency -> priority) out."""

    widget = PriorityGridWidget

    def __init__(self, **kwargs):
        fields = [forms.ChoiceField(choices=PRIORITY_CHOICES) for _cell in range(len(LEVELS) ** 2)]
        super().__init__(fields, require_all_fields=True, **kwargs)

    def compress(self, data_list):
        if not data_list:
            return None
        cells = iter(data_list)
        return {str(impact): {str(urgency): next(cells) for urgency in LEVELS} for impact in LEVELS}


class PriorityMatrixForm(ServiceModelForm):
    matrix = PriorityGridField(
        label=_("Priority"),
        help_text=_("Rows: impact; columns: urgency. A ticket gets its priority when it is created and whenever "
                    "its impact or urgency changes; existing tickets keep theirs."),
    )

    def clean_matrix(self):
        try:
            return validate_matrix(self.cleaned_data.get("matrix"))
        except MatrixInvalid as exc:
            raise forms.ValidationError(str(exc)) from exc

    class Meta:
        model = PriorityMatrix
        fields = ["matrix"]

    def save_through_service(self, actor):
        services.priority_matrix_set(actor=actor, matrix=self.cleaned_data["matrix"])
        return PriorityMatrix.objects.get(singleton=True)


@admin.register(PriorityMatrix)
class PriorityMatrixAdmin(ServiceModelAdmin):
    form = PriorityMatrixForm
    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return not PriorityMatrix.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class DeskSettingsForm(ServiceModelForm):
    class Meta:
        model = DeskSettings
        fields = ["default_team", "resolved_reply", "auto_close_days"]

    def save_through_service(self, actor):
        data = self.cleaned_data
        return services.desk_settings_update(
            actor=actor,
            default_team=data.get("default_team"),
            resolved_reply=data["resolved_reply"],
            auto_close_days=data["auto_close_days"],
        )


@admin.register(DeskSettings)
class DeskSettingsAdmin(ServiceModelAdmin):
    """One row per tenant (its migration creates it): the list goes straight to its change
    form; nothing to add or delete. Saved through `desk_settings_update` (policy
    `desk_settings.change`, audited)."""

    form = DeskSettingsForm
    fields = ["default_team", "resolved_reply", "auto_close_days", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request) -> bool:
        # Only for a schema somehow without its row (the service creates it on save).
        return super().has_add_permission(request) and not DeskSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        row = DeskSettings.objects.filter(singleton=True).values_list("pk", flat=True).first()
        if row is None or not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)
        return redirect(reverse(f"{self.admin_site.name}:tickets_desksettings_change", args=[row]))
