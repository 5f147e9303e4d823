"""The desk's rendering shortcuts write what the templates they replace wrote, byte for byte.

`{% desk_field %}` stands for `{% include "desk/_field.html" %}` on the queue, and
`{% desk_time %}` for four `date` filters in a queue cell (apps/desk/templatetags/desk.py):
both exist for speed only, so any difference from the template is a bug.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django import forms
from django.template import Context, Template
from django.utils import timezone, translation

from apps.desk.rendering import RENDERER


class SampleForm(forms.Form):
    default_renderer = RENDERER

    q = forms.CharField(label="Search <text>", required=False, help_text="Words & phrases")
    team = forms.ChoiceField(label="Team", choices=[("", "—"), ("1", "Desk <one>"), ("2", "Ops & co")], required=False)
    status = forms.MultipleChoiceField(label="Status", choices=[("open", "Open"), ("new", "New")],
                                       widget=forms.CheckboxSelectMultiple, required=False)
    note = forms.CharField(label="Note", widget=forms.Textarea, required=False)
    when = forms.DateField(label="After", required=True)


def _both(form, field, css_class: str = "") -> tuple[str, str]:
    extra = f' class="{css_class}"' if css_class else ""
    included = Template('{% include "desk/_field.html" with field=f.' + field + extra + " %}")
    tagged = Template("{% load desk %}{% desk_field f." + field + (f' "{css_class}"' if css_class else "") + " %}")
    return included.render(Context({"f": form})), tagged.render(Context({"f": form}))


@pytest.mark.parametrize("field", ["q", "team", "status", "note", "when"])
def test_desk_field_writes_what_the_include_writes(field):
    form = SampleForm({"q": "<b>x</b>", "team": "2", "status": ["open"], "note": "a < b", "when": "not a date"})
    assert not form.is_valid()  # "when" has an error: the error list is written too
    included, tagged = _both(form, field)
    assert tagged == included


def test_desk_field_with_a_class_and_an_unbound_form():
    included, tagged = _both(SampleForm(), "q", "field-search")
    assert tagged == included
    assert 'class="field field-search"' in tagged


@pytest.mark.parametrize(("language", "zone"), [("en", "UTC"), ("pl", "Europe/Warsaw"), ("en", "America/New_York")])
@pytest.mark.parametrize("moment", [
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),   # the night Warsaw moves to summer time
    datetime(2026, 11, 1, 5, 30, tzinfo=UTC),   # New York's repeated hour
    datetime(2026, 12, 7, 14, 5, 9, 123456, tzinfo=UTC),
])
def test_desk_time_writes_what_the_date_filters_write(language, zone, moment):
    filters = Template("<time datetime=\"{{ v|date:'c' }}\" title=\"{{ v|date:'DATETIME_FORMAT' }}\"><span>"
                       "{{ v|date:\"j M\" }}</span> <span>{{ v|date:\"H:i T\" }}</span></time>")
    tag = Template("{% load desk %}{% desk_time v %}")
    with translation.override(language), timezone.override(zone):
        assert tag.render(Context({"v": moment})) == filters.render(Context({"v": moment}))
