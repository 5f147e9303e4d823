"""Accessibility checks with axe-core (vendored: tests/browser/vendor/axe.min.js, MPL-2.0).

    from tests.browser.axe import assert_no_serious_violations
    assert_no_serious_violations(page, context="portal list (pl)")

axe is evaluated through Playwright (the DevTools protocol), not added as a <script>
element: the page's Content-Security-Policy only lets scripts with its nonce run, and
page.evaluate() is not subject to it. If a future axe build needs eval(), open the page
in a context made with `browser.new_context(bypass_csp=True)` for the axe run only.

Rules: WCAG 2.0/2.1 A and AA plus axe's best practices; the check fails on any
violation whose impact is "serious" or "critical" and prints them as a readable list.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

AXE_PATH = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = ("serious", "critical")


@cache
def axe_source() -> str:
    return AXE_PATH.read_text(encoding="utf-8")


def run_axe(page, *, include: str | None = None, disable: tuple[str, ...] = ()) -> list[dict]:
    """axe's violations for the page (or the part matching `include`)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    options = {
        "runOnly": {"type": "tag", "values": TAGS},
        "rules": {rule: {"enabled": False} for rule in disable},
        "resultTypes": ["violations"],
    }
    return page.evaluate(
        """async ([include, options]) => {
            const results = await window.axe.run(include ? {include: [include]} : document, options);
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary, html: n.html})),
            }));
        }""",
        [include, options],
    )


def format_violations(violations: list[dict], *, context: str = "") -> str:
    lines = [f"{len(violations)} accessibility violation(s){' on ' + context if context else ''}:"]
    for violation in violations:
        lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"][:10]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    at {node['target']}: {summary}")
            lines.append(f"       {node['html'][:200]}")
        if len(violation["nodes"]) > 10:
            lines.append(f"    ... and {len(violation['nodes']) - 10} more")
    return "\n".join(lines)


def assert_no_serious_violations(page, *, context: str = "", include: str | None = None,
                                 disable: tuple[str, ...] = ()) -> list[dict]:
    """Fail on critical or serious violations; return the minor/moderate ones."""
    violations = run_axe(page, include=include, disable=disable)
    failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not failing, format_violations(failing, context=context or page.url)
    return violations
