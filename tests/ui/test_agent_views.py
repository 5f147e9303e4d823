"""The agent desk through the Django client: who may load and post what (role x view x
own/other/other tenant), markup that must stay inert, internal notes, query counts,
and bulk actions that are refused ticket by ticket."""

from __future__ import annotations

import re
import types
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, URLPattern, get_resolver, include, path, reverse

from apps.accounts.models import Team, User
from apps.core import keyset
from apps.desk import saved_views
from apps.tickets import services, workflow
from apps.tickets.choices import TicketStatus
from apps.tickets.keyset import ORDERINGS, STATUS, ticket_ordering_by
from apps.tickets.models import Ticket, TicketAttachment, TicketComment

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
HTMX_RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "queue-results"}
JSON = {"HTTP_ACCEPT": "application/json"}
XSS_TITLE = '<script>alert("t")</script><img src=x onerror=alert(1)>'
XSS_BODY = '<script>alert("c")</script> [click](javascript:alert(2)) <a href="#" onclick="alert(3)">x</a> **bold**'
XSS_FILE = '"><img src=x onerror=alert(4)>.png'
XSS_NOTE = '<script>alert("note")</script><img src=x onerror=alert(5)>'
XSS_REASON = '<script>alert("reason")</script><svg onload=alert(6)>'
XSS_VIEW = '<script>alert("view")</script><img src=x onerror=alert(7)>'
SECRET = "INTERNAL-DESK-NOTE-5b1c"


# --- Set-up --------------------------------------------------------------------------------


def _forget_media_root() -> None:
    """Storages remember where MEDIA_ROOT pointed; forget it so uploads land in tmp_path."""
    from django.core.files.storage import default_storage, storages
    from django.utils.functional import empty

    from apps.tenants import storage as tenant_storage

    if hasattr(tenant_storage, "_backend_for"):
        tenant_storage._backend_for.cache_clear()
    instances = [storages["default"]]
    if default_storage._wrapped is not empty:
        instances.append(default_storage._wrapped)
    for instance in instances:
        instance.__dict__.pop("relative_media_root", None)


@pytest.fixture(autouse=True)
def _desk_settings(settings, tmp_path):
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")
    _forget_media_root()
    try:
        reverse("desk:queue")
    except NoReverseMatch:  # until config/urls_tenant.py mounts the desk
        from config import urls_tenant

        module = types.ModuleType("desk_test_urls")
        module.urlpatterns = [path("desk/", include("apps.desk.urls")), *urls_tenant.urlpatterns]
        for name in ("handler400", "handler403", "handler404", "handler500"):
            setattr(module, name, getattr(urls_tenant, name))
        settings.ROOT_URLCONF = module
    yield settings
    _forget_media_root()


@pytest.fixture
def desk_team(tenant):
    return Team.objects.get(name="Desk")


@pytest.fixture
def ops_team(tenant):
    return Team.objects.get(name="Ops")


@pytest.fixture
def make_ticket(tenant, requester_user, agent_user):
    def make(*, title="Printer on floor 2 is jammed", requester=None, **fields):
        requester = requester or requester_user
        return services.ticket_create(actor=agent_user, requester=requester, title=title,
                                      description=fields.pop("description", "It shows **E42**."), **fields)

    return make


@pytest.fixture
def own_ticket(make_ticket, agent_user, desk_team):
    """Assigned to agent@alpha (the agent's own work)."""
    return make_ticket(title="Own ticket", team=desk_team, assignee=agent_user)


@pytest.fixture
def other_ticket(make_ticket, agent2_user, ops_team, requester2_user):
    """Another requester's ticket, assigned to agent2 (someone else's work)."""
    return make_ticket(title="Other ticket", requester=requester2_user, team=ops_team, assignee=agent2_user)


@pytest.fixture
def foreign_number(tenant, other_tenant):
    """The number of a ticket of tenant beta that alpha does not have."""
    from apps.tickets.models import TicketCounter

    connection.set_tenant(other_tenant)
    try:
        TicketCounter.objects.update(last_number=900_000)
        requester = User.objects.get(email="requester@beta.test")
        foreign = services.ticket_create(actor=requester, title="Beta's secret ticket", description="beta only")
        number = foreign.number
    finally:
        connection.set_tenant(tenant)
    assert not Ticket.objects.filter(number=number).exists()
    return number


def url(name: str, **kwargs) -> str:
    return reverse(f"desk:{name}", kwargs=kwargs or None)


def upload(name: str = "screen.png", content: bytes = PNG, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


# --- Role x view x object -------------------------------------------------------------------

ROLES = ("anonymous", "requester", "agent", "admin")
OBJECTS = ("own", "other", "foreign")

# name -> (method, needs a ticket, data builder, expected status for agents on a visible ticket)
ROUTES = {
    "queue": ("GET", False, None, 200),
    "board": ("GET", False, None, 200),
    "bulk": ("POST", True, lambda n, ctx: {"ticket": [n], "action": "assign", "assignee": "me"}, 302),
    "board-move": ("POST", True, lambda n, ctx: {"number": n, "to": "pending"}, 200),
    "preview": ("POST", False, lambda n, ctx: {"body": "**hi**"}, 200),
    "saved-view-create": ("POST", False, lambda n, ctx: {"name": "Mine", "scope": "personal", "query": "status=open"}, 302),
    "saved-view-delete": ("POST", False, None, 404),
    "ticket": ("GET", True, None, 200),
    "comment": ("POST", True, lambda n, ctx: {"body": "Looking at it", "visibility": "internal", "action": "send"}, 302),
    "transition": ("POST", True, lambda n, ctx: {"to": "pending"}, 302),
    "assign": ("POST", True, lambda n, ctx: {"team": "", "assignee": str(ctx["agent"].pk)}, 302),
    "edit": ("POST", True, lambda n, ctx: {"edit": "priority", "impact": "1", "urgency": "1"}, 302),
    "suggestion": ("GET", True, None, 200),
    "attachment-upload": ("POST", True, lambda n, ctx: {"file": upload(), "visibility": "internal"}, 302),
    "attachment-download": ("GET", True, None, 302),
    "follow": ("POST", True, lambda n, ctx: {"follow": "1"}, 302),
    "mentions": ("GET", True, None, 200),
    "github": ("POST", True, lambda n, ctx: {"action": "none"}, 302),  # refused on the page
    "servicenow-undo": ("POST", True, lambda n, ctx: {"reason": "wrong"}, 404),  # no such write-back
    "triage": ("GET", False, None, 200),
    "triage-bulk": ("POST", False, lambda n, ctx: {"proposal": []}, 302),  # nothing chosen: back to the queue
    "triage-decide": ("POST", False, lambda n, ctx: {"decision": "approve", "version": "1"}, 404),  # no such proposal
    "triage-edit": ("GET", False, None, 404),
}


def _path(name: str, number: int, ctx) -> str:
    if name in ("ticket", "comment", "transition", "assign", "edit", "attachment-upload", "suggestion",
                "follow", "mentions", "github"):
        return url(name, number=number)
    if name == "servicenow-undo":
        return url(name, number=number, writeback_id=999_999)
    if name == "attachment-download":
        return url(name, number=number, attachment_id=ctx["attachments"].get(number, 999_999))
    if name == "saved-view-delete":
        return url(name, view_id=999_999)
    if name in ("triage-decide", "triage-edit"):
        return url(name, proposal_id=999_999)
    return url(name)


def test_every_desk_route_has_matrix_cases():
    resolver = get_resolver("apps.desk.urls")
    names = {p.name for p in resolver.url_patterns if isinstance(p, URLPattern)}
    assert names == set(ROUTES), names ^ set(ROUTES)


MATRIX = [
    (role, route, obj)
    for route, (_method, per_ticket, _data, _status) in sorted(ROUTES.items())
    for obj in (OBJECTS if per_ticket else ("-",))
    for role in ROLES
]


@pytest.mark.parametrize(("role", "route", "obj"), MATRIX)
def test_permission_matrix(role, route, obj, client, web_as, users, own_ticket, other_ticket, foreign_number):
    method, per_ticket, data, agent_status = ROUTES[route]
    number = {"own": own_ticket.number, "-": own_ticket.number, "other": other_ticket.number,
              "foreign": foreign_number}[obj]
    attachments = {}
    if route == "attachment-download" and obj != "foreign":
        ticket = own_ticket if obj == "own" else other_ticket
        attachments[number] = services.attachment_add(
            actor=users["agent"], ticket=ticket, fileobj=upload(), filename="screen.png").pk
    ctx = {"agent": users["agent"], "attachments": attachments}
    target = _path(route, number, ctx)
    browser = client if role == "anonymous" else web_as(users[role])
    if role == "anonymous":
        browser.defaults["HTTP_HOST"] = "alpha.localhost"
    payload = data(number, ctx) if data else None
    extra = JSON if route == "board-move" else {}
    response = browser.get(target, **extra) if method == "GET" else browser.post(target, payload or {}, **extra)

    if role == "anonymous":
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]
        return
    if role == "requester":
        assert response.status_code == 403, response.content[:300]
        return
    expected = agent_status
    if obj == "foreign" and route not in ("bulk",):
        expected = 404
    if route == "saved-view-create" and not _saved_views_enabled():
        expected = 302  # refused with a message until the SavedView model exists
    assert response.status_code == expected, (response.status_code, response.content[:500])
    if obj == "foreign":
        assert b"Beta's secret ticket" not in response.content
    if route == "bulk" and obj == "foreign":
        report = browser.session.get("desk_bulk_report")
        assert report["done"] == []
        assert report["refused"][0]["number"] == number


def _saved_views_enabled() -> bool:
    from apps.desk import saved_views

    return saved_views.enabled()


def test_requesters_get_403_pages_not_redirects(web_as, requester_user, own_ticket):
    response = web_as(requester_user).get(url("ticket", number=own_ticket.number))
    assert response.status_code == 403
    assert b"Own ticket" not in response.content


# --- Inert markup -------------------------------------------------------------------------


class PageChecker(HTMLParser):
    """Finds anything a browser would run: inline scripts, event handlers, javascript: URLs,
    and markup injected from data (img, iframe, object, embed, svg)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"handler {name} on <{tag}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"{name}={value!r} on <{tag}>")
        if tag == "script":
            if not names.get("src"):
                self.problems.append("inline <script>")
            self._in_script = True
        if tag in ("img", "iframe", "object", "embed", "svg") and names.get("src") != "" and tag != "img":
            self.problems.append(f"<{tag}>")
        if tag == "img" and (names.get("src") or "") in ("x", ""):
            self.problems.append("<img src=x> from data")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("script with a body")


def assert_inert(html: str) -> None:
    checker = PageChecker()
    checker.feed(html)
    assert not checker.problems, checker.problems


@pytest.fixture
def xss_ticket(make_ticket, agent_user, desk_team):
    ticket = make_ticket(title=XSS_TITLE, description=XSS_BODY, team=desk_team)
    services.comment_add(actor=agent_user, ticket=ticket, body=XSS_BODY)
    services.comment_add(actor=agent_user, ticket=ticket, body=XSS_BODY, internal=True)
    services.attachment_add(actor=agent_user, ticket=ticket, fileobj=upload(XSS_FILE), filename=XSS_FILE)
    # Status changes carry text too: a resolution note, then the requester's reopen reason.
    services.ticket_transition(actor=agent_user, ticket=Ticket.objects.get(pk=ticket.pk), to="resolved",
                               resolution_code="fixed", resolution_note=XSS_NOTE)
    services.ticket_transition(actor=ticket.requester, ticket=Ticket.objects.get(pk=ticket.pk), to="open",
                               reason=XSS_REASON)
    # A saved view shared with the team, named with markup.
    saved_views.saved_view_create(actor=agent_user, name=XSS_VIEW, query={"q": "alert"}, team=desk_team)
    return Ticket.objects.get(pk=ticket.pk)


@pytest.mark.parametrize("page", ["queue", "queue-partial", "board", "ticket", "preview"])
def test_hostile_text_renders_inert_on_every_page(page, xss_ticket, web_as, agent_user):
    browser = web_as(agent_user)
    if page == "queue":
        response = browser.get(url("queue"))
    elif page == "queue-partial":
        response = browser.get(url("queue"), {"q": "alert"}, **HTMX_RESULTS)
    elif page == "board":
        response = browser.get(url("board"))
    elif page == "ticket":
        response = browser.get(url("ticket", number=xss_ticket.number))
    else:
        response = browser.post(url("preview"), {"body": XSS_BODY})
    assert response.status_code == 200
    html = response.content.decode()
    assert_inert(html)
    if page == "queue-partial":  # searched for "alert": the word is marked, the rest escaped as ever
        assert "&lt;script&gt;<mark>alert</mark>(&quot;t&quot;)&lt;/script&gt;" in html
    elif page != "preview":
        assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in html  # shown as text, not dropped
    if page == "ticket":
        assert "<strong>bold</strong>" in html  # Markdown still renders
        assert "onerror=alert(4)" in html.replace("&gt;", ">")  # the file name is text
        assert 'href="javascript' not in html
        # The resolution note and the requester's reopen reason, in the timeline, as text.
        assert "Resolution: Fixed: &lt;script&gt;alert(&quot;note&quot;)&lt;/script&gt;&lt;img src=x" in html
        assert "Reason: &lt;script&gt;alert(&quot;reason&quot;)&lt;/script&gt;&lt;svg onload=alert(6)&gt;" in html
    if page == "queue":
        # The team's saved view: its link and its delete button's hidden label.
        assert html.count("&lt;script&gt;alert(&quot;view&quot;)&lt;/script&gt;") == 2


def test_the_page_carries_no_inline_script_or_handler(web_as, agent_user, own_ticket):
    browser = web_as(agent_user)
    for target in (url("queue"), url("board"), url("ticket", number=own_ticket.number)):
        html = browser.get(target).content.decode()
        assert_inert(html)
        assert re.search(r'<script src="[^"]*tickets/agent\.js"', html), target


# --- Internal notes ------------------------------------------------------------------------


def test_internal_notes_are_shown_to_agents_and_marked(own_ticket, web_as, agent_user, requester_user, admin_user):
    services.comment_add(actor=agent_user, ticket=own_ticket, body="Public answer here")
    services.comment_add(actor=agent_user, ticket=own_ticket, body=SECRET, internal=True)
    for user in (agent_user, admin_user):
        html = web_as(user).get(url("ticket", number=own_ticket.number)).content.decode()
        item = re.search(r'<li class="tl tl-comment is-internal"[^>]*>(.*?)</li>', html, re.S)
        assert item
        assert SECRET in item.group(1)
        assert "Internal note" in item.group(1)
        public = re.search(r'<li class="tl tl-comment"[^>]*>(.*?)</li>', html, re.S)
        assert public
        assert "Public answer here" in public.group(1)
        assert "Public reply" in public.group(1)
    denied = web_as(requester_user).get(url("ticket", number=own_ticket.number))
    assert denied.status_code == 403
    assert SECRET.encode() not in denied.content


def test_an_internal_comment_posted_from_the_desk_stays_internal(own_ticket, web_as, agent_user):
    browser = web_as(agent_user)
    response = browser.post(url("comment", number=own_ticket.number),
                            {"body": SECRET, "visibility": "internal", "action": "send"})
    assert response.status_code == 302
    comment = TicketComment.objects.get(ticket=own_ticket)
    assert comment.internal
    assert comment.body == SECRET
    assert response["Location"].endswith(f"#comment-{comment.pk}")


# --- Query counts ------------------------------------------------------------------------


@pytest.fixture
def many_tickets(make_ticket, agent_user, agent2_user, desk_team, ops_team, tenant):
    from apps.tickets.models import Category, Tag

    Tag.objects.get_or_create(name="printer")
    Tag.objects.get_or_create(name="vip")
    category, _ = Category.objects.get_or_create(name="Hardware", parent=None)
    for i in range(60):
        make_ticket(
            title=f"Bulk ticket {i}",
            team=desk_team if i % 2 else ops_team,
            assignee=agent_user if i % 2 else agent2_user,
            tags=["printer", "vip"] if i % 3 else ["printer"],
            category=category,
        )


def _count(browser, params) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as ctx:
        response = browser.get(url("queue"), params)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content


@pytest.mark.parametrize("params", [{}, {"status": ["new", "open"], "assignee": "me", "priority": "P3", "q": "ticket"}])
def test_queue_query_count_does_not_grow_with_page_size(many_tickets, web_as, agent_user, params,
                                                         django_assert_max_num_queries):
    browser = web_as(agent_user)
    small, small_html = _count(browser, {**params, "per_page": 25})
    large, large_html = _count(browser, {**params, "per_page": 100})
    assert large_html.count(b"data-row") > small_html.count(b"data-row") or params
    assert large == small
    with django_assert_max_num_queries(small):
        browser.get(url("queue"), {**params, "per_page": 25})
    with django_assert_max_num_queries(small):
        browser.get(url("queue"), {**params, "per_page": 100})
    assert small <= 16, small


def test_board_and_detail_query_counts_are_bounded(many_tickets, web_as, agent_user, django_assert_max_num_queries):
    browser = web_as(agent_user)
    with django_assert_max_num_queries(20):
        assert browser.get(url("board")).status_code == 200
    number = Ticket.objects.order_by("number").first().number
    with django_assert_max_num_queries(20):
        assert browser.get(url("ticket", number=number)).status_code == 200


def test_board_query_count_does_not_grow_with_the_cards_shown(many_tickets, web_as, agent_user, monkeypatch):
    from apps.desk import views

    browser = web_as(agent_user)
    counts = {}
    for limit in (5, 50):
        monkeypatch.setattr(views, "BOARD_COLUMN_LIMIT", limit)
        browser.get(url("board"))  # warm
        with CaptureQueriesContext(connection) as ctx:
            html = browser.get(url("board")).content.decode()
        counts[limit] = (len(ctx.captured_queries), html.count('<li class="board-card"'))
    assert counts[5][1] < counts[50][1]  # more cards shown ...
    assert counts[5][0] == counts[50][0]  # ... by the same statements


def test_the_requester_filter_costs_one_lookup_whatever_the_page_size(many_tickets, web_as, agent_user):
    browser = web_as(agent_user)
    plain, _html = _count(browser, {"per_page": 25})
    small, small_html = _count(browser, {"requester": "requester@alpha.test", "per_page": 25})
    large, large_html = _count(browser, {"requester": "requester@alpha.test", "per_page": 100})
    assert large_html.count(b"data-row") > small_html.count(b"data-row")
    assert small == large == plain + 1


# --- Queue: filters, sorting, pages, htmx -------------------------------------------------


def _numbers(html: bytes) -> list[int]:
    return [int(n) for n in re.findall(rb'<tr data-row id="row-(\d+)"', html)]


def test_filters_narrow_the_queue(own_ticket, other_ticket, make_ticket, web_as, agent_user, desk_team):
    unassigned = make_ticket(title="Nobody's printer")
    browser = web_as(agent_user)
    assert set(_numbers(browser.get(url("queue")).content)) >= {own_ticket.number, other_ticket.number, unassigned.number}
    assert _numbers(browser.get(url("queue"), {"assignee": "me"}).content) == [own_ticket.number]
    assert _numbers(browser.get(url("queue"), {"assignee": "none"}).content) == [unassigned.number]
    assert _numbers(browser.get(url("queue"), {"team": desk_team.pk}).content) == [own_ticket.number]
    assert _numbers(browser.get(url("queue"), {"q": "nobody's"}).content) == [unassigned.number]
    services.ticket_transition(actor=agent_user, ticket=own_ticket, to="pending")
    assert _numbers(browser.get(url("queue"), {"status": "pending"}).content) == [own_ticket.number]


def test_invalid_filters_are_reported_not_500(web_as, agent_user):
    response = web_as(agent_user).get(url("queue"), {"assignee": "someone", "q": "x\x00"})
    assert response.status_code == 200
    assert b"field-error" in response.content or b"form-error" in response.content


def test_sorting_and_cursor_pages(make_ticket, web_as, agent_user):
    titles = ["delta", "alpha", "charlie", "echo", "bravo"]
    made = {title: make_ticket(title=title).number for title in titles}
    browser = web_as(agent_user)
    html = browser.get(url("queue"), {"sort": "title", "per_page": 25}).content
    order = [n for n in _numbers(html) if n in made.values()]
    assert order == [made[t] for t in sorted(titles)]
    assert b'aria-sort="ascending"' in html
    # Cursor pagination: pages of 25 over 30 tickets, then back.
    for i in range(26):
        make_ticket(title=f"zz filler {i:02}")
    first = browser.get(url("queue"), {"sort": "-number"})
    numbers = _numbers(first.content)
    assert len(numbers) == 25
    next_href = re.search(rb'href="([^"]+)" rel="next"', first.content).group(1).decode().replace("&amp;", "&")
    second = browser.get(url("queue") + next_href)
    rest = _numbers(second.content)
    assert rest
    assert max(rest) < min(numbers)
    assert not set(rest) & set(numbers)
    prev_href = re.search(rb'href="([^"]+)" rel="prev"', second.content).group(1).decode().replace("&amp;", "&")
    assert _numbers(browser.get(url("queue") + prev_href).content) == numbers


CURSOR_ERROR = "This page link is not valid"


def test_a_garbled_cursor_is_reported_with_the_first_page(own_ticket, web_as, agent_user):
    """Not a 500 and not a silent first page: the queue says the link is bad (422, which
    htmx swaps) and shows the first page, whose links carry no bad cursor."""
    browser = web_as(agent_user)
    for extra in ({}, HTMX_RESULTS):
        response = browser.get(url("queue"), {"cursor": "!!not-base64!!", "sort": "nonsense"}, **extra)
        assert response.status_code == 422
        html = response.content.decode()
        assert re.search(rf'<p class="form-error" role="alert" id="cursor-error">{CURSOR_ERROR}', html)
        assert own_ticket.number in _numbers(response.content)
        assert "not-base64" not in html[html.index('id="queue-results"'):]  # page links, bulk "back"
    assert CURSOR_ERROR not in browser.get(url("queue")).content.decode()
    polish = browser.get(url("queue"), {"cursor": "x"}, HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "Ten link do strony jest nieprawidłowy" in polish


def test_a_tampered_or_foreign_cursor_is_reported(make_ticket, web_as, agent_user):
    for i in range(4):
        make_ticket(title=f"Cursor {i}")
    browser = web_as(agent_user)
    first = browser.get(url("queue"), {"sort": "status", "per_page": 25})
    assert first.status_code == 200
    ordering = ticket_ordering_by(STATUS, descending=False)
    good = keyset.Cursor("new", 10**6, False).encode(ordering)
    assert browser.get(url("queue"), {"sort": "status", "cursor": good}).status_code == 200
    payload, signature = good.split(":", 1)
    tampered = (payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")) + ":" + signature
    for params in ({"sort": "status", "cursor": tampered},  # changed
                   {"sort": "title", "cursor": good},  # another sort's
                   {"sort": "status", "cursor": keyset.Cursor("nonsense", 1, False).encode(ordering)}):
        response = browser.get(url("queue"), params)
        assert response.status_code == 422, params
        assert CURSOR_ERROR in response.content.decode(), params


def test_the_api_and_the_desk_share_one_cursor_format(make_ticket, web_as, api_as, agent_user):
    """A cursor of the API's `ordering=status` is a cursor of the desk's `sort=status`: the
    same page follows it in both, in workflow order."""
    made = [make_ticket(title=f"Shared {i}") for i in range(5)]
    services.ticket_transition(actor=agent_user, ticket=made[1], to="pending")
    services.ticket_transition(actor=agent_user, ticket=made[3], to="cancelled", reason="test")
    first = api_as(agent_user).get("/api/v1/tickets/", {"ordering": "status", "page_size": 2}).json()
    api_next = api_as(agent_user).get(first["next"]).json()
    token = re.search(r"cursor=([^&]+)", first["next"]).group(1).replace("%3A", ":")
    desk_next = web_as(agent_user).get(url("queue"), {"sort": "status", "per_page": 25, "cursor": token})
    assert desk_next.status_code == 200
    desk_numbers = _numbers(desk_next.content)
    api_numbers = [t["number"] for t in api_next["results"]]
    assert desk_numbers[: len(api_numbers)] == api_numbers
    assert ORDERINGS["status"] == ticket_ordering_by(STATUS, descending=False)


def test_htmx_refresh_returns_only_the_results(own_ticket, web_as, agent_user):
    browser = web_as(agent_user)
    partial = browser.get(url("queue"), {"assignee": "me"}, **HTMX_RESULTS)
    assert partial.status_code == 200
    html = partial.content.decode()
    assert html.lstrip().startswith('<div id="queue-results"')
    assert "<html" not in html
    assert 'hx-swap-oob="true"' in html  # the filter form's sort input follows the table
    assert "HX-Request" in partial["Vary"]
    full = browser.get(url("queue"), {"assignee": "me"})
    assert b"<html" in full.content
    assert b'id="queue-filters"' in full.content


# --- Bulk actions ------------------------------------------------------------------------


@pytest.fixture
def bulk_tickets(make_ticket, agent_user, desk_team):
    fine = make_ticket(title="Fine one", team=desk_team)
    closed = make_ticket(title="Closed one", team=desk_team)
    services.ticket_transition(actor=agent_user, ticket=closed, to="cancelled", reason="duplicate")
    other_team = make_ticket(title="Ops one", team=Team.objects.get(name="Ops"))
    return fine, closed, other_team


def test_bulk_assign_reports_refusals_ticket_by_ticket(bulk_tickets, web_as, agent_user):
    fine, closed, other_team = bulk_tickets
    browser = web_as(agent_user)
    response = browser.post(url("bulk"), {
        "ticket": [fine.number, closed.number, other_team.number, 999_999], "action": "assign", "assignee": "me",
        "back": "assignee=me",
    }, **HTMX_RESULTS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 ticket changed" in html
    assert "3 refused" in html
    refusals = re.search(r'<ul class="refusals">(.*?)</ul>', html, re.S).group(1)
    assert f"#{closed.number}</a>: Ticket #{closed.number} is cancelled" in refusals
    assert f"#{other_team.number}</a>: agent@alpha.test is not a member of the team Ops" in refusals
    assert "#999999</a>: There is no such ticket." in refusals
    assert Ticket.objects.get(pk=fine.pk).assignee_id == agent_user.pk
    assert Ticket.objects.get(pk=other_team.pk).assignee_id is None
    assert _numbers(response.content) == [fine.number]  # the table is refreshed with the `back` filters


def test_bulk_status_without_javascript_redirects_with_a_report(bulk_tickets, web_as, agent_user):
    fine, closed, other_team = bulk_tickets
    browser = web_as(agent_user)
    response = browser.post(url("bulk"), {
        "ticket": [fine.number, closed.number], "action": "status", "to": "resolved",
        "resolution_code": "fixed", "resolution_note": "Swapped the toner", "back": "status=new&sort=title",
    })
    assert response.status_code == 302
    assert response["Location"].startswith(url("queue") + "?")
    assert "sort=title" in response["Location"]
    page = browser.get(response["Location"]).content.decode()
    assert "1 ticket changed" in page
    assert "1 refused" in page
    assert f"#{closed.number}</a>: A ticket cannot go from cancelled to resolved" in page
    assert Ticket.objects.get(pk=fine.pk).status == TicketStatus.RESOLVED
    assert "desk_bulk_report" not in browser.session  # shown once


def test_bulk_status_that_needs_a_resolution_is_refused_for_each(bulk_tickets, web_as, agent_user):
    fine, _closed, other_team = bulk_tickets
    response = web_as(agent_user).post(url("bulk"), {
        "ticket": [fine.number, other_team.number], "action": "status", "to": "resolved",
    }, **HTMX_RESULTS)
    html = response.content.decode()
    assert "0 tickets changed" in html
    assert "2 refused" in html
    assert html.count("needs a resolution code and a note") == 2
    assert Ticket.objects.filter(status="resolved").count() == 0


def test_bulk_with_nothing_selected_changes_nothing(web_as, agent_user):
    response = web_as(agent_user).post(url("bulk"), {"action": "assign", "assignee": "me"}, **HTMX_RESULTS)
    assert response.status_code == 422  # htmx swaps 422: the message shows in place
    assert b"Nothing was changed" in response.content
    assert b"Select at least one ticket" in response.content


def test_bulk_policy_denials_are_refusals_and_recorded(bulk_tickets, web_as, agent_user, monkeypatch):
    from apps.desk import views
    from apps.policies.decisions import Decision, PolicyDenied

    fine, _closed, other_team = bulk_tickets
    recorded = []
    real_assign = services.ticket_assign

    def assign(*, actor, ticket, **kwargs):
        if ticket.pk == other_team.pk:
            raise PolicyDenied(Decision(False, ("test rule",), (), 1, "enforce", False), "ticket.assign")
        return real_assign(actor=actor, ticket=ticket, **kwargs)

    monkeypatch.setattr(views.services, "ticket_assign", assign)
    monkeypatch.setattr(views, "persist_denial", lambda exc: recorded.append(exc))
    html = web_as(agent_user).post(url("bulk"), {
        "ticket": [fine.number, other_team.number], "action": "assign", "assignee": "none",
    }, **HTMX_RESULTS).content.decode()
    assert "1 ticket changed" in html
    assert "Not allowed to ticket.assign: test rule." in html
    assert len(recorded) == 1
    assert isinstance(recorded[0], PolicyDenied)


# --- Ticket detail -----------------------------------------------------------------------


def test_detail_shows_one_timeline(own_ticket, web_as, agent_user, agent2_user, ops_team):
    services.comment_add(actor=agent_user, ticket=own_ticket, body="First public answer")
    services.ticket_assign(actor=agent_user, ticket=own_ticket, team=ops_team, assignee=agent2_user)
    services.ticket_transition(actor=agent2_user, ticket=own_ticket, to="pending", reason="Waiting for the model number")
    services.attachment_add(actor=agent_user, ticket=own_ticket, fileobj=upload("photo.png"), filename="photo.png",
                            visibility="internal")
    html = web_as(agent_user).get(url("ticket", number=own_ticket.number)).content.decode()
    timeline = re.search(r'<ol class="timeline"[^>]*>(.*?)</ol>', html, re.S).group(1)
    expected = ["opened the ticket", "First public answer", "New → Open (first reply)",
                "moved the ticket to the team Ops", "changed the status: Open → Pending",
                "Waiting for the model number", "photo.png"]
    positions = [timeline.find(text) for text in expected]
    assert -1 not in positions, list(zip(expected, positions, strict=True))
    assert positions == sorted(positions), list(zip(expected, positions, strict=True))
    attachment = re.search(r'<li class="tl tl-attachment is-internal"', timeline)
    assert attachment


def test_transition_errors_are_shown_inline(own_ticket, web_as, agent_user):
    response = web_as(agent_user).post(url("transition", number=own_ticket.number), {"to": "resolved"})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'id="id_resolution_code_error"[^>]*>\s*<li>Choose a resolution code', html)
    assert re.search(r'id="id_resolution_note_error"[^>]*>\s*<li>A resolution note is required', html)
    assert 'aria-describedby="id_resolution_code_helptext id_resolution_code_error"' in html
    assert Ticket.objects.get(pk=own_ticket.pk).status == TicketStatus.NEW


def test_a_forbidden_transition_is_explained(own_ticket, web_as, agent_user):
    response = web_as(agent_user).post(url("transition", number=own_ticket.number), {"to": "closed"})
    assert response.status_code == 409
    assert b"From new a ticket can go to" in response.content


def test_resolving_from_the_detail_page(own_ticket, web_as, agent_user):
    browser = web_as(agent_user)
    response = browser.post(url("transition", number=own_ticket.number), {
        "to": "resolved", "resolution_code": "fixed", "resolution_note": "New fuser"})
    assert response.status_code == 302
    page = browser.get(response["Location"]).content.decode()
    assert "is now Resolved" in page
    assert "changed the status: New → Resolved" in page
    assert "Resolution: Fixed: New fuser" in page


def test_preview_renders_through_the_markdown_renderer(web_as, agent_user, own_ticket):
    browser = web_as(agent_user)
    response = browser.post(url("preview"), {"body": "**bold** and <b>raw</b>"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<strong>bold</strong>" in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html
    assert "<html" not in html
    # Without JavaScript the Preview button posts the composer; the text is kept.
    fallback = browser.post(url("comment", number=own_ticket.number),
                            {"body": "**kept**", "visibility": "public", "action": "preview"})
    assert fallback.status_code == 200
    assert b"<strong>kept</strong>" in fallback.content
    assert b"**kept**</textarea>" in fallback.content
    assert not TicketComment.objects.filter(ticket=own_ticket).exists()


def test_an_empty_comment_is_refused_inline(own_ticket, web_as, agent_user):
    response = web_as(agent_user).post(url("comment", number=own_ticket.number),
                                       {"body": "  ", "visibility": "public", "action": "send"})
    assert response.status_code == 400
    assert b'id="id_body_error"' in response.content


def test_assignment_suggests_the_least_loaded_team_member(make_ticket, web_as, agent_user, agent2_user, admin_user,
                                                          desk_team):
    from apps.accounts.services import team_add_member

    team_add_member(team=desk_team, user=agent2_user, actor=admin_user)
    for i in range(2):
        make_ticket(title=f"agent load {i}", team=desk_team, assignee=agent_user)
    make_ticket(title="agent2 load", team=desk_team, assignee=agent2_user)
    ticket = make_ticket(title="Needs someone", team=desk_team)
    browser = web_as(agent_user)
    page = browser.get(url("ticket", number=ticket.number)).content.decode()
    # The page asks for the suggestion after loading (htmx), or inline without JavaScript.
    assert f'hx-get="{url("suggestion", number=ticket.number)}"' in page
    assert 'href="?suggest=1#assign"' in page
    for html in (browser.get(url("suggestion", number=ticket.number)).content.decode(),
                 browser.get(url("ticket", number=ticket.number), {"suggest": "1"}).content.decode()):
        assert "Suggested: agent2@alpha.test, who has 1 open ticket." in html
        form = re.search(r'<div id="assign-suggestion"[^>]*>\s*<form method="post" action="[^"]+assign/#assign">(.*?)</form>',
                         html, re.S).group(1)
        assert f'name="assignee" value="{agent2_user.pk}"' in form
    response = browser.post(url("assign", number=ticket.number), {"team": desk_team.pk, "assignee": agent2_user.pk})
    assert response.status_code == 302
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == agent2_user.pk


def test_assignment_errors_are_inline(own_ticket, web_as, agent_user, agent2_user, desk_team):
    response = web_as(agent_user).post(url("assign", number=own_ticket.number),
                                       {"team": desk_team.pk, "assignee": agent2_user.pk})
    assert response.status_code == 400
    # The refusal opens the assignment editor of the Details card, the error under the assignee.
    assert b'id="edit-assignment-assignee_error"' in response.content
    assert b"Not a member of the team Desk" in response.content


def test_upload_then_download_through_a_signed_link(own_ticket, web_as, agent_user):
    browser = web_as(agent_user)
    response = browser.post(url("attachment-upload", number=own_ticket.number),
                            {"file": upload("Screen shot.png"), "visibility": "public"})
    assert response.status_code == 302
    attachment = TicketAttachment.objects.get(ticket=own_ticket)
    page = browser.get(url("ticket", number=own_ticket.number)).content.decode()
    link = url("attachment-download", number=own_ticket.number, attachment_id=attachment.pk)
    assert f'href="{link}"' in page
    redirect = browser.get(link)
    assert redirect.status_code == 302
    assert "/api/v1/attachments/download/" in redirect["Location"]
    download = browser.get(redirect["Location"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG


def test_a_refused_upload_is_reported_inline(own_ticket, web_as, agent_user):
    response = web_as(agent_user).post(url("attachment-upload", number=own_ticket.number),
                                       {"file": upload("tool.exe", b"MZ" + b"\x00" * 200, "application/octet-stream"),
                                        "visibility": "public"})
    assert response.status_code in (400, 415)
    assert b'id="id_file_error"' in response.content
    assert not TicketAttachment.objects.filter(ticket=own_ticket).exists()


# --- Board -------------------------------------------------------------------------------


def test_board_shows_columns_and_move_forms(own_ticket, web_as, agent_user):
    html = web_as(agent_user).get(url("board")).content.decode()
    for status in ("new", "open", "pending", "resolved", "closed", "cancelled"):
        assert f'data-status="{status}"' in html
    card = re.search(rf'<li class="board-card"[^>]*id="card-{own_ticket.number}">(.*?)</li>', html, re.S).group(1)
    assert f'<label for="move-{own_ticket.number}">' in card
    assert '<option value="open">' in card
    assert '<option value="closed">' not in card
    assert 'name="csrfmiddlewaretoken"' in card


def test_board_move_refusal_and_success_as_json(own_ticket, web_as, agent_user):
    browser = web_as(agent_user)
    refused = browser.post(url("board-move"), {"number": own_ticket.number, "to": "closed"}, **JSON)
    assert refused.status_code == 409
    assert refused.json()["ok"] is False
    assert "cannot go from new to closed" in refused.json()["message"]
    assert refused.json()["needs"] == []
    needs = browser.post(url("board-move"), {"number": own_ticket.number, "to": "cancelled"}, **JSON)
    assert needs.status_code == 400
    assert needs.json()["needs"] == ["reason"]
    done = browser.post(url("board-move"), {"number": own_ticket.number, "to": "cancelled", "reason": "dup"}, **JSON)
    assert done.status_code == 200
    assert done.json() == {
        "ok": True, "message": f"#{own_ticket.number} moved to Cancelled.", "status": "cancelled"}
    assert Ticket.objects.get(pk=own_ticket.pk).status == TicketStatus.CANCELLED


def test_board_move_without_javascript(own_ticket, web_as, agent_user):
    browser = web_as(agent_user)
    refused = browser.post(url("board-move"), {"number": own_ticket.number, "to": "closed", "back": "team=1"})
    assert refused.status_code == 302
    assert refused["Location"] == url("board") + "?team=1"
    assert b"was not moved to Closed" in browser.get(refused["Location"]).content
    needs = browser.post(url("board-move"), {"number": own_ticket.number, "to": "resolved"})
    assert needs.status_code == 302
    assert needs["Location"] == url("ticket", number=own_ticket.number) + "?transition=resolved#transition"
    page = browser.get(needs["Location"]).content.decode()
    assert '<option value="resolved" selected>' in page
    moved = browser.post(url("board-move"), {"number": own_ticket.number, "to": "open"})
    assert moved.status_code == 302
    assert Ticket.objects.get(pk=own_ticket.pk).status == TicketStatus.OPEN


# --- Languages ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "pl"])
def test_pages_render_in_both_languages(language, own_ticket, web_as, agent_user):
    browser = web_as(agent_user)
    for target in (url("queue"), url("board"), url("ticket", number=own_ticket.number)):
        response = browser.get(target, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        assert f'<html lang="{language}"'.encode() in response.content


# --- Saved views -------------------------------------------------------------------------


def test_saved_views_personal_and_team(web_as, agent_user, agent2_user, admin_user, desk_team, own_ticket):
    from apps.accounts.services import team_add_member
    from apps.audit.models import AuditEvent
    from apps.tickets.models import SavedView

    browser = web_as(agent_user)
    response = browser.post(url("saved-view-create"), {
        "name": "My open P1s", "scope": "personal", "query": "status=open&priority=P1&sort=title&cursor=abc&evil=1"})
    assert response.status_code == 302
    assert "status=open" in response["Location"]
    mine = SavedView.objects.get(name="My open P1s")
    assert mine.owner_id == agent_user.pk
    assert mine.team_id is None
    assert mine.query == {"status": ["open"], "priority": ["P1"], "sort": "title"}  # known keys only
    assert AuditEvent.objects.filter(action="saved_view.created", target_id=str(mine.pk)).exists()

    browser.post(url("saved-view-create"), {"name": "Desk backlog", "scope": f"team:{desk_team.pk}",
                                             "query": f"team={desk_team.pk}&assignee=none"})
    shared = SavedView.objects.get(name="Desk backlog")
    assert shared.team_id == desk_team.pk
    assert shared.owner_id is None

    html = browser.get(url("queue")).content.decode()
    assert "My open P1s" in html
    assert "Desk backlog" in html
    assert 'href="/desk/?status=open&amp;priority=P1&amp;sort=title"' in html

    # agent2 sees the team view once in the team, never agent's personal one.
    colleague = web_as(agent2_user)
    assert "Desk backlog" not in colleague.get(url("queue")).content.decode()
    team_add_member(team=desk_team, user=agent2_user, actor=admin_user)
    page = colleague.get(url("queue")).content.decode()
    assert "Desk backlog" in page
    assert "My open P1s" not in page
    assert colleague.post(url("saved-view-delete", view_id=mine.pk)).status_code == 404
    # A team member who is not the author, lead or an admin cannot delete the team view.
    refused = colleague.post(url("saved-view-delete", view_id=shared.pk), follow=True)
    assert b"was not deleted" in refused.content
    assert SavedView.objects.filter(pk=shared.pk).exists()
    assert browser.post(url("saved-view-delete", view_id=shared.pk)).status_code == 302
    assert not SavedView.objects.filter(pk=shared.pk).exists()


def test_a_team_view_needs_membership(web_as, agent2_user, desk_team):
    from apps.tickets.models import SavedView

    response = web_as(agent2_user).post(url("saved-view-create"), {
        "name": "Not mine", "scope": f"team:{desk_team.pk}", "query": "status=new"}, follow=True)
    assert b"was not saved" in response.content
    assert not SavedView.objects.filter(name="Not mine").exists()


# --- Keyset pages, every sort --------------------------------------------------------------


@pytest.mark.parametrize("sort", ["status", "-status", "priority", "-priority", "title", "-title", "updated", "-updated",
                                  "number", "-number", "assignee", "-assignee", "team", "-team"])
def test_every_sort_pages_forward_and_back_without_gaps(sort, make_ticket, agent_user, agent2_user, desk_team, ops_team):
    from apps.desk import queue
    from apps.tickets import selectors

    levels = [(1, 1), (2, 2), (3, 3), (1, 3), (2, 1)]
    for i in range(11):
        impact, urgency = levels[i % 5]
        ticket = make_ticket(title=f"{'abcde'[i % 5]} ticket {i}", impact=impact, urgency=urgency,
                             team=[desk_team, ops_team, None][i % 3],
                             assignee=agent_user if i % 3 == 0 else (agent2_user if i % 3 == 1 else None))
        if i % 4 == 1:
            services.ticket_transition(actor=agent_user, ticket=ticket, to="pending")
        elif i % 4 == 2:
            services.ticket_transition(actor=agent_user, ticket=ticket, to="cancelled", reason="test")
    base = selectors.ticket_list(actor=agent_user, filters={})
    everything = queue.paginate(base, sort=sort, cursor=None, size=100).rows
    assert len(everything) == 11
    forward, cursor, pages = [], None, []
    while True:
        page = queue.paginate(base, sort=sort, cursor=cursor, size=3)
        pages.append([t.number for t in page.rows])
        forward += page.rows
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert [t.number for t in forward] == [t.number for t in everything]
    # Back from the last page, page by page, gives the same pages.
    back = [pages[-1]]
    cursor = page.previous_cursor
    while cursor:
        page = queue.paginate(base, sort=sort, cursor=cursor, size=3)
        back.insert(0, [t.number for t in page.rows])
        cursor = page.previous_cursor
    assert back == pages
    # The order is the one the column promises.
    column, descending = queue.parse_sort(sort)
    if column in ("status", "priority"):
        field, values = column, queue.SORTS[column].values
        assert values == (workflow.STATUSES if column == "status" else ("P1", "P2", "P3", "P4"))
        ranks = [values.index(getattr(t, field)) for t in everything]
        assert ranks == sorted(ranks, reverse=descending)
        for a, b in zip(everything, everything[1:], strict=False):
            if getattr(a, field) == getattr(b, field):
                assert a.number > b.number  # newest first inside a value
