"""Pure modules: the workflow map, the priority matrix, Markdown rendering, text checks."""

from __future__ import annotations

import pytest

from apps.core.errors import ApplicationError, PermissionDenied
from apps.tickets import workflow
from apps.tickets.markdown import render_markdown, sanitize_html
from apps.tickets.priority import DEFAULT_MATRIX, MatrixInvalid, priority_for, validate_matrix
from apps.tickets.services import parse_mentions
from apps.tickets.text import clean_text, text_errors

S = workflow
# (role, from, to) -> allowed. Every combination is listed so a change to the map must
# change this table too.
EXPECTED = {
    "agent": {
        S.NEW: {S.OPEN, S.PENDING, S.RESOLVED, S.CANCELLED},
        S.OPEN: {S.PENDING, S.RESOLVED, S.CANCELLED},
        S.PENDING: {S.OPEN, S.RESOLVED, S.CANCELLED},
        S.RESOLVED: {S.OPEN, S.CLOSED},
        S.CLOSED: set(),
        S.CANCELLED: set(),
    },
    "requester": {
        S.NEW: {S.CANCELLED},
        S.OPEN: {S.CANCELLED},
        S.PENDING: {S.OPEN, S.CANCELLED},
        S.RESOLVED: {S.OPEN},
        S.CLOSED: set(),
        S.CANCELLED: set(),
    },
}
EXPECTED["admin"] = EXPECTED["agent"]

CASES = [
    (role, current, target, target in EXPECTED[role][current])
    for role in workflow.ROLES
    for current in workflow.STATUSES
    for target in workflow.STATUSES
    if target != current
]


@pytest.mark.parametrize(("role", "current", "target", "allowed"), CASES)
def test_transition_table(role, current, target, allowed):
    assert workflow.is_allowed(role, current, target) is allowed
    if allowed:
        workflow.check_transition(role=role, current=current, target=target)
    else:
        with pytest.raises(ApplicationError) as info:
            workflow.check_transition(role=role, current=current, target=target)
        # Something only agents may do is a 403 for a requester; impossible for all is 409.
        agents_may = target in EXPECTED["agent"][current]
        expected_status = 403 if agents_may else 409
        assert info.value.status == expected_status
        assert isinstance(info.value, PermissionDenied) is agents_may


def test_the_map_has_every_status_for_every_role():
    for role in workflow.ROLES:
        assert set(workflow.TRANSITIONS[role]) == set(workflow.STATUSES)
    assert set(workflow.STATUSES) == {"new", "open", "pending", "resolved", "closed", "cancelled"}


def test_unknown_status_and_same_status():
    with pytest.raises(ApplicationError) as info:
        workflow.check_transition(role="agent", current="open", target="deleted")
    assert info.value.status == 400
    assert "to" in info.value.errors
    with pytest.raises(ApplicationError) as info:
        workflow.check_transition(role="agent", current="open", target="open")
    assert info.value.status == 409


@pytest.mark.parametrize(
    ("current", "target", "reason", "resolution", "reopen"),
    [
        ("resolved", "open", True, False, True),
        ("open", "resolved", False, True, False),
        ("new", "resolved", False, True, False),
        ("open", "cancelled", True, False, False),
        ("pending", "open", False, False, False),
        ("resolved", "closed", False, False, False),
    ],
)
def test_requirements(current, target, reason, resolution, reopen):
    needs = workflow.requirements(current, target)
    assert (needs.reason, needs.resolution, needs.reopen) == (reason, resolution, reopen)


def test_workflow_module_has_no_orm():
    import inspect

    source = inspect.getsource(workflow)
    assert "django.db" not in source
    assert "objects." not in source


# --- Priority ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("impact", "urgency", "priority"),
    [(1, 1, "P1"), (1, 2, "P2"), (2, 1, "P2"), (1, 3, "P3"), (2, 2, "P3"), (3, 1, "P3"),
     (2, 3, "P4"), (3, 2, "P4"), (3, 3, "P4")],
)
def test_default_itil_matrix(impact, urgency, priority):
    assert priority_for(impact, urgency) == priority


def test_custom_matrix_and_validation():
    custom = {k: dict(v) for k, v in DEFAULT_MATRIX.items()}
    custom["3"]["3"] = "P3"
    assert priority_for(3, 3, validate_matrix(custom)) == "P3"
    with pytest.raises(MatrixInvalid) as info:
        validate_matrix({"1": {"1": "P9"}})
    assert "matrix.1.1" in info.value.errors
    assert "matrix.2" in info.value.errors
    with pytest.raises(ValueError):
        priority_for(0, 4)
    # A damaged stored matrix falls back to the default instead of breaking ticket work.
    assert priority_for(1, 1, {"1": {}}) == "P1"


# --- Markdown ---------------------------------------------------------------------------

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil></iframe>",
    '"><svg onload=alert(1)>',
    "<style>body{display:none}</style>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](http://evil/pixel.png)",
    "<details open ontoggle=alert(1)>",
    "`<b>code</b>`\n\n```\n<script>x</script>\n```",
]


@pytest.mark.parametrize("text", XSS)
def test_markdown_output_is_inert(text, assert_inert):
    assert_inert(render_markdown(text))
    assert_inert(sanitize_html(render_markdown(text)))


def test_markdown_renders_and_links_get_rel():
    html = render_markdown("**bold** and [site](https://example.com) and <b>raw</b>")
    assert "<strong>bold</strong>" in html
    assert 'rel="noopener nofollow"' in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html  # raw HTML is shown as text
    assert render_markdown("") == ""
    assert render_markdown("   ") == ""


def test_sanitize_on_render_cleans_tampered_html(assert_inert):
    assert_inert(sanitize_html('<p onclick="x()">hi</p><script>alert(1)</script><a href="javascript:x">y</a>'))


# --- Text checks --------------------------------------------------------------------------


def test_control_characters_are_refused_but_newlines_and_tabs_are_fine():
    assert clean_text("a\tb\r\nc", field="body") == "a\tb\r\nc"
    for bad in ("\x00", "\x07", "\x1b[31m", "\x7f", "\x85"):
        with pytest.raises(ApplicationError) as info:
            clean_text(f"hello{bad}", field="body", label="The comment")
        assert "control character" in info.value.errors["body"][0]


def test_sizes_and_single_line():
    assert text_errors("x" * 201, max_chars=200, label="The title")[0].startswith("The title has 201 characters")
    assert text_errors("é" * 30000, max_bytes=50 * 1024)  # 60000 bytes
    assert not text_errors("é" * 25000, max_bytes=50 * 1024)
    assert text_errors("a\nb", single_line=True)
    assert text_errors("  ", required=True)


def test_mentions_parsing():
    emails, names = parse_mentions("Hi @agent2 and @Agent@Alpha.test, mail me at bob@x.com. @ann.")
    assert emails == {"agent@alpha.test"}
    assert names == {"agent2", "ann"}
