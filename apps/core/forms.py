"""Form fields shared by every app's forms (no app imports: core is the bottom layer)."""

from __future__ import annotations

from django import forms


class MultilineTextField(forms.CharField):
    """A textarea's text with its line breaks as they are stored (LF).

    Browsers send every line break of a textarea as CRLF (HTML's form submission
    normalises them), so without this an unchanged text comes back "changed", a service
    is called for nothing and the stored text gains CRs. A lone CR (no browser sends one)
    is left for the service's own checks."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n") if isinstance(value, str) else value
