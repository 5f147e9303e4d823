"""Forms of the requester portal: shape and friendly messages only.

The rules (lengths, categories, the workflow, cooldowns, upload checks) are enforced by
the services; these forms catch the common mistakes early with translated messages.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from apps.tickets import conf, selectors
from apps.tickets.choices import Level

TITLE_MAX = 200

# Impact and urgency in the requester's words (Level: 1 is the most severe).
IMPACT_CHOICES = [
    (Level.LOW, _("Only me")),
    (Level.MEDIUM, _("My team")),
    (Level.HIGH, _("The whole company")),
]
URGENCY_CHOICES = [
    (Level.LOW, _("It can wait")),
    (Level.MEDIUM, _("It slows me down")),
    (Level.HIGH, _("I cannot work")),
]


def category_choices() -> list[tuple[str, str]]:
    """Active categories depth-first, each labelled with its path ("Hardware › Printers"),
    so a screen reader hears where an entry sits and a plain <select> shows the tree."""
    categories = list(selectors.category_list())
    by_id = {c.pk: c for c in categories}
    children: dict[int | None, list] = {}
    for category in categories:
        parent = category.parent_id if category.parent_id in by_id else None
        children.setdefault(parent, []).append(category)
    choices: list[tuple[str, str]] = [("", _("I don't know"))]
    stack = [(c, [c.name]) for c in reversed(sorted(children.get(None, []), key=lambda c: c.name.lower()))]
    while stack:
        category, path = stack.pop()
        choices.append((str(category.pk), " › ".join(path)))
        for child in reversed(sorted(children.get(category.pk, []), key=lambda c: c.name.lower())):
            stack.append((child, [*path, child.name]))
    return choices


def files_help() -> str:
    size = filesizeformat(getattr(settings, "WARDEN_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
    return _("Up to %(size)s each: images, PDF, Office documents, text files.") % {"size": size}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


def _reason_field(label, help_text) -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=conf.get("WARDEN_TICKETS_REASON_MAX_CHARS"),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Please give a reason.")},
    )


class TicketForm(forms.Form):
    title = forms.CharField(
        label=_("Summary"),
        help_text=_("One line, for example: “Printer on floor 2 jams on every page”."),
        max_length=TITLE_MAX,
        error_messages={"required": _("Please write a short summary.")},
    )
    description = forms.CharField(
        label=_("Details"),
        help_text=_("What happened, what did you expect, since when? Markdown works."),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    category = forms.ChoiceField(label=_("Category"), required=False)
    impact = forms.TypedChoiceField(
        label=_("Who is affected?"), choices=IMPACT_CHOICES, coerce=int, initial=Level.LOW, widget=forms.RadioSelect
    )
    urgency = forms.TypedChoiceField(
        label=_("How urgent is it?"), choices=URGENCY_CHOICES, coerce=int, initial=Level.MEDIUM, widget=forms.RadioSelect
    )
    files = MultipleFileField(label=_("Attachments"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()
        self.fields["files"].help_text = files_help()

    def clean_category(self) -> int | None:
        value = self.cleaned_data.get("category")
        return int(value) if value else None


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your reply"),
        help_text=_("Markdown works."),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    files = MultipleFileField(label=_("Attach files"), required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "reply_%s")
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = files_help()

    @classmethod
    def refused_files(cls, messages: list[str]) -> ReplyForm:
        """An empty form (the reply itself was sent) that reports the files not stored."""
        form = cls()
        form.full_clean()  # unbound: no errors yet, nothing cleaned
        form.cleaned_data = {}
        for message in messages:
            form.add_error("files", message)
        return form

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("body") or "").strip() and not cleaned.get("files") and not self.errors:
            self.add_error("body", _("Write a reply or choose a file."))
        return cleaned


class ReopenForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "reopen_%s")
        super().__init__(*args, **kwargs)

    reason = _reason_field(_("Why is the problem not solved?"), _("The team reads this before picking it up again."))


class CancelForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "cancel_%s")
        super().__init__(*args, **kwargs)

    reason = _reason_field(_("Why do you want to cancel?"), _("For example: “It works again”."))


class CopyInForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "cc_%s")
        super().__init__(*args, **kwargs)

    email = forms.EmailField(
        label=_("Colleague's email address"),
        max_length=254,
        help_text=_("They are told of the team's replies and can read this request, but cannot reply or change it."),
    )


class DuePreviewForm(forms.Form):
    """The new-request form's fields that decide its due time (the preview's query).
    Invalid values count as the form's defaults; a requester never picks a team."""

    category = forms.ChoiceField(required=False)
    impact = forms.TypedChoiceField(choices=IMPACT_CHOICES, coerce=int, required=False, empty_value=Level.LOW)
    urgency = forms.TypedChoiceField(choices=URGENCY_CHOICES, coerce=int, required=False, empty_value=Level.MEDIUM)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()


def due_inputs(data) -> dict:
    """`apps.sla.preview.due_preview`'s arguments from the new-request form's values
    (cleaned or initial; missing ones are the form's defaults). The team is the one the
    request will be routed to (the category's, else the tenant's default): a requester
    never picks one."""
    category = data.get("category")
    category_id = int(category) if category else None
    return {
        "impact": int(data.get("impact") or Level.LOW),
        "urgency": int(data.get("urgency") or Level.MEDIUM),
        "category_id": category_id,
        "team_id": selectors.routing_team_id(category_id=category_id),
    }
