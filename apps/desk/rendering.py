"""A faster form renderer for the desk's controls.

Django renders every widget, and every <option> of a select, through its own template:
on a queue page with a dozen selects that is most of the page's render time. This
renderer writes the same markup for the plain widgets (inputs, selects, textareas and
the options of checkbox/radio groups) directly in Python, with the same escaping, and
leaves everything else to Django's templates. The attributes (id, required,
aria-describedby, aria-invalid) are the ones BoundField computed, unchanged.
"""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

INPUT_TEMPLATES = frozenset({
    "django/forms/widgets/input.html", "django/forms/widgets/text.html", "django/forms/widgets/search.html",
    "django/forms/widgets/number.html", "django/forms/widgets/email.html", "django/forms/widgets/hidden.html",
    "django/forms/widgets/checkbox.html", "django/forms/widgets/file.html", "django/forms/widgets/date.html",
})
OPTION_TEMPLATES = frozenset({"django/forms/widgets/checkbox_option.html", "django/forms/widgets/radio_option.html"})


def _attrs(attrs: dict) -> str:
    """Django's attrs.html: False is left out, True is a bare attribute."""
    out = []
    for name, value in attrs.items():
        if value is False or value is None:
            continue
        if value is True:
            out.append(f" {conditional_escape(name)}")
        else:
            out.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(out)


def _input(widget: dict) -> str:
    value = widget.get("value")
    value_attr = f' value="{conditional_escape(str(value))}"' if value is not None else ""
    return (f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(widget["name"])}"'
            f"{value_attr}{_attrs(widget['attrs'])}>")


def _select(widget: dict) -> str:
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(format_html('<optgroup label="{}">', group_name))
        for option in options:
            selected = " selected" if option["selected"] else ""
            parts.append(format_html('<option value="{}"{}>{}</option>', str(option["value"]),
                                     mark_safe(selected), str(option["label"])))  # noqa: S308 - a constant
        if group_name:
            parts.append("</optgroup>")
    parts.append("</select>")
    return "".join(parts)


def _textarea(widget: dict) -> str:
    value = widget.get("value")
    return (f'<textarea name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>\n'
            f'{conditional_escape(value) if value else ""}</textarea>')


class DeskFormRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        widget = context.get("widget") if isinstance(context, dict) else None
        if widget is not None:
            if template_name in INPUT_TEMPLATES:
                return mark_safe(_input(widget))  # noqa: S308 - every value escaped above
            if template_name == "django/forms/widgets/select.html":
                return mark_safe(_select(widget))  # noqa: S308
            if template_name == "django/forms/widgets/textarea.html":
                return mark_safe(_textarea(widget))  # noqa: S308
            if template_name in OPTION_TEMPLATES and not widget.get("wrap_label"):
                return mark_safe(_input(widget))  # noqa: S308
        return super().render(template_name, context, request)


RENDERER = DeskFormRenderer()
