"""What a browser would submit from an HTML form, read with html.parser.

`form_data(html, form_id)` returns the form's data set as a list of (name, value) pairs,
following the HTML standard's "constructing the entry list" closely enough for Django's
admin pages:

* text-like inputs with their value (newlines stripped, as the value sanitisation
  algorithm does), hidden inputs, checked checkboxes and radios (value "on" by default);
* every selected option of a select; a single select with no selected option submits its
  first enabled option (what a browser shows as chosen);
* textareas with their text, less the one newline that follows the start tag, line breaks
  sent as CRLF;
* nothing for disabled controls, buttons, submits (the caller adds the clicked one) and
  file inputs left empty;
* controls outside the form are ignored, controls inside it are kept even when they belong
  to a hidden template row (an inline's `__prefix__` row is submitted by a browser too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_SKIPPED_INPUTS = {"submit", "button", "image", "reset", "file"}


@dataclass
class _Select:
    name: str
    multiple: bool
    disabled: bool
    options: list[tuple[str, bool, bool]] = field(default_factory=list)  # value, selected, disabled


@dataclass
class _Option:
    attrs: dict
    text: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self, form_id: str | None):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False  # forms do not nest: from the wanted form's start tag to its end tag
        self.found = False
        self.data: list[tuple[str, str]] = []
        self.select: _Select | None = None
        self.option: _Option | None = None
        self.textarea: tuple[str, list[str]] | None = None
        self.buttons: list[str] = []

    # -- structure --------------------------------------------------------------------------

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "form":
            if not self.inside and not self.found and (self.form_id is None or names.get("id") == self.form_id):
                self.inside = self.found = True
            return  # a form start tag inside a form is ignored by browsers
        if not self.inside:
            return
        if tag == "input":
            self._input(names)
        elif tag == "select":
            self.select = _Select(names.get("name") or "", "multiple" in names, "disabled" in names)
        elif tag == "option" and self.select is not None:
            self._end_option()
            self.option = _Option(names)
        elif tag == "textarea" and names.get("name") and "disabled" not in names:
            self.textarea = (names["name"], [])
        elif tag == "button" and names.get("name") and (names.get("type") or "submit") == "submit":
            self.buttons.append(names["name"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in ("select", "textarea", "option"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "option":
            self._end_option()
        elif tag == "select" and self.select is not None:
            self._end_option()
            self._end_select()
        elif tag == "textarea" and self.textarea is not None:
            name, parts = self.textarea
            text = "".join(parts)
            if text.startswith("\r\n"):
                text = text[2:]
            elif text.startswith("\n"):
                text = text[1:]
            self.data.append((name, re.sub(r"\r\n|\r|\n", "\r\n", text)))
            self.textarea = None
        elif tag == "form":
            self.inside = False

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1].append(data)
        elif self.option is not None:
            self.option.text.append(data)

    # -- controls ---------------------------------------------------------------------------

    def _input(self, names: dict) -> None:
        kind = (names.get("type") or "text").lower()
        name = names.get("name")
        if kind in ("submit", "image") and name:
            self.buttons.append(name)
        if not name or "disabled" in names or kind in _SKIPPED_INPUTS:
            return
        if kind in ("checkbox", "radio"):
            if "checked" in names:
                self.data.append((name, names.get("value") if names.get("value") is not None else "on"))
            return
        value = names.get("value") or ""
        if kind != "hidden":
            value = value.replace("\r", "").replace("\n", "")
        self.data.append((name, value))

    def _end_option(self) -> None:
        if self.option is None or self.select is None:
            self.option = None
            return
        attrs = self.option.attrs
        value = attrs.get("value")
        if value is None:
            value = " ".join("".join(self.option.text).split())
        self.select.options.append((value, "selected" in attrs, "disabled" in attrs))
        self.option = None

    def _end_select(self) -> None:
        select, self.select = self.select, None
        if not select.name or select.disabled:
            return
        chosen = [value for value, selected, disabled in select.options if selected and not disabled]
        if not select.multiple:
            if chosen:
                chosen = chosen[-1:]  # the last selected one wins in a single select
            else:
                enabled = [value for value, _selected, disabled in select.options if not disabled]
                chosen = enabled[:1]
        self.data.extend((select.name, value) for value in chosen)


@dataclass
class ParsedForm:
    found: bool
    data: list[tuple[str, str]]
    buttons: list[str]

    def as_post(self, *extra: tuple[str, str]) -> dict[str, list[str]]:
        """The entries as a dict of lists, for Django's test client (it keeps the order of
        the values of one name, which is all a form can rely on)."""
        post: dict[str, list[str]] = {}
        for name, value in [*self.data, *extra]:
            post.setdefault(name, []).append(value)
        return post


def parse_form(html: str, form_id: str | None = None) -> ParsedForm:
    """The form with id `form_id` (else the first form) of `html`, as a browser submits it."""
    parser = _FormParser(form_id)
    parser.feed(html)
    parser.close()
    return ParsedForm(found=parser.found, data=parser.data, buttons=parser.buttons)
