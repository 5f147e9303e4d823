"""The requester portal through the Django client: what a requester can load, what they
can do, and what must never reach them (internal notes, internal files, other people's
tickets, live markup)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from apps.tickets import services
from apps.tickets.choices import Level, TicketStatus
from apps.tickets.models import Ticket, TicketAttachment, TicketComment

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
SECRET = "INTERNAL-NOTE-7f3a"
SECRET_FILE = "internal-only-7f3a.txt"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _forget_media_root() -> None:
    """Storages cache where MEDIA_ROOT pointed: forget it so uploads land under tmp_path."""
    from django.core.files.storage import default_storage, storages
    from django.utils.functional import empty

    from apps.tenants import storage as tenant_storage

    tenant_storage._backend_for.cache_clear()
    instances = [storages["default"]]
    if default_storage._wrapped is not empty:
        instances.append(default_storage._wrapped)
    for instance in instances:
        instance.__dict__.pop("relative_media_root", None)


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")
    _forget_media_root()
    yield settings
    _forget_media_root()


def upload(name: str, content: bytes = b"hello, this is a plain text file\n", content_type: str = "text/plain"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def ticket(tenant, requester_user):
    return services.ticket_create(actor=requester_user, title="Printer on floor 2 is jammed", description="It beeps.")


@pytest.fixture
def worked_ticket(ticket, agent_user):
    """The requester's ticket with a public reply, an internal note and an internal file."""
    services.comment_add(actor=agent_user, ticket=ticket, body="PUBLIC-REPLY-MARK: try turning it off and on.")
    services.comment_add(actor=agent_user, ticket=ticket, body=f"{SECRET}: the printer is on the vendor's list", internal=True)
    services.attachment_add(actor=agent_user, ticket=ticket, fileobj=upload(SECRET_FILE), filename=SECRET_FILE,
                            visibility="internal")
    services.attachment_add(actor=ticket.requester, ticket=ticket, fileobj=upload("error-log.txt"), filename="error-log.txt")
    return Ticket.objects.get(pk=ticket.pk)


@pytest.fixture
def requester_web(web_as, requester_user):
    return web_as(requester_user)


def resolve(ticket, agent):
    return services.ticket_transition(actor=agent, ticket=ticket, to=TicketStatus.RESOLVED,
                                      resolution_code="fixed", resolution_note="Replaced the **fuser**.")


def url(name: str, *args) -> str:
    return reverse(f"portal:{name}", args=args)


def text(response) -> str:
    return response.content.decode()


# --- Internal notes never reach a requester ----------------------------------------------------


def test_internal_notes_and_files_are_in_no_page_a_requester_can_load(worked_ticket, requester_web):
    n = worked_ticket.number
    internal_file = TicketAttachment.objects.get(original_name=SECRET_FILE)
    responses = {
        "list": requester_web.get(url("list")),
        "list all": requester_web.get(url("list") + "?show=all"),
        "detail": requester_web.get(url("detail", n)),
        "new": requester_web.get(url("new")),
        "reply": requester_web.post(url("reply", n), {"body": "Still jammed."}, follow=True),
        "reply htmx": requester_web.post(url("reply", n), {"body": "Still jammed, again."}, **HTMX),
        "reply error": requester_web.post(url("reply", n), {"body": ""}),
        "reply error htmx": requester_web.post(url("reply", n), {"body": ""}, **HTMX),
        "reopen error": requester_web.post(url("reopen", n), {"reason": ""}),
        "cancel error": requester_web.post(url("cancel", n), {"reason": ""}),
        "internal file": requester_web.get(url("download", n, internal_file.pk)),
        "missing ticket": requester_web.get(url("detail", 999_999)),
        "bad method": requester_web.get(url("reply", n)),
    }
    assert responses["detail"].status_code == 200
    assert "PUBLIC-REPLY-MARK" in text(responses["detail"])
    assert "error-log.txt" in text(responses["detail"])
    assert responses["internal file"].status_code == 404
    assert responses["missing ticket"].status_code == 404
    assert responses["reply error"].status_code == 422
    for name, response in responses.items():
        body = text(response)
        assert SECRET not in body, name
        assert SECRET_FILE not in body, name
        assert "7f3a" not in body, name


def test_an_agent_following_their_own_request_in_the_portal_sees_only_the_public_conversation(
    tenant, web_as, agent_user, agent2_user
):
    own = services.ticket_create(actor=agent_user, title="My monitor flickers")
    services.comment_add(actor=agent2_user, ticket=own, body="Public: a new cable is on its way.")
    services.comment_add(actor=agent2_user, ticket=own, body=f"{SECRET}: cable budget is empty", internal=True)
    page = text(web_as(agent_user).get(url("detail", own.number)))
    assert "a new cable is on its way" in page
    assert SECRET not in page


# --- Markup in user content renders inert --------------------------------------------------------

XSS_TITLE = '<script>alert("title")</script><img src=x onerror=alert(1)>'
XSS_BODY = (
    '<script>alert("body")</script>\n\n<img src=x onerror=alert(2)> [click](javascript:alert(3)) '
    '<a href="#" onclick="x()">a</a>'
)
XSS_FILE = '"><svg onload=alert(4)>.txt'


class InlineScan(HTMLParser):
    """Event-handler attributes, script elements and javascript: URLs in a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value}>")
        if tag in ("svg", "iframe", "object", "embed"):
            self.problems.append(f"<{tag}>")
        if tag == "img" and dict(attrs).get("src") == "x":
            self.problems.append("<img src=x>")
        if tag == "script" and not dict(attrs).get("src"):
            self.problems.append("inline <script>")

    handle_startendtag = handle_starttag


def scan(html: str) -> list[str]:
    parser = InlineScan()
    parser.feed(html)
    return parser.problems


def test_markup_in_titles_comments_and_file_names_renders_inert(tenant, requester_user, agent_user, requester_web):
    ticket = services.ticket_create(actor=requester_user, title=XSS_TITLE, description=XSS_BODY)
    services.comment_add(actor=agent_user, ticket=ticket, body=XSS_BODY)
    services.attachment_add(actor=requester_user, ticket=ticket, fileobj=upload(XSS_FILE), filename=XSS_FILE)
    pages = {
        "list": requester_web.get(url("list")),
        "detail": requester_web.get(url("detail", ticket.number)),
        "reply htmx": requester_web.post(url("reply", ticket.number), {"body": XSS_BODY}, **HTMX),
        "new error": requester_web.post(url("new"), {"title": "", "description": XSS_BODY, "impact": "3", "urgency": "2"}),
        "reply with bad file": requester_web.post(
            url("reply", ticket.number), {"body": "", "files": [upload("evil\"><svg onload=alert(5)>.exe", b"MZ\x90\x00")]}
        ),
    }
    for name, response in pages.items():
        assert response.status_code in (200, 422), name
        html = text(response)
        assert scan(html) == [], (name, scan(html))
        assert "<script>alert" not in html, name
    detail = text(pages["detail"])
    assert "&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;" in detail  # shown as text
    assert 'href="javascript:' not in detail


def test_a_hostile_resolution_note_and_reopen_reason_render_inert(tenant, requester_user, agent_user, requester_web,
                                                                  settings):
    """The resolution note (Markdown, written by an agent, read by the requester) and a
    reopen reason sent back in the form (the cooldown's 429 page keeps what was typed)."""
    settings.WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS = 600
    ticket = services.ticket_create(actor=requester_user, title="Scanner")
    resolve_with = XSS_BODY + "\n\n**fixed** it"
    services.ticket_transition(actor=agent_user, ticket=ticket, to=TicketStatus.RESOLVED, resolution_code="fixed",
                               resolution_note=resolve_with)
    detail = requester_web.get(url("detail", ticket.number))
    html = text(detail)
    assert scan(html) == [], scan(html)
    resolution = re.search(r'<section class="card resolution".*?</section>', html, re.S).group(0)
    assert "<strong>fixed</strong>" in resolution  # Markdown renders, markup does not
    assert "<script>" not in resolution
    assert 'href="javascript:' not in resolution

    reason = '<script>alert("why")</script><svg onload=alert(8)>'
    assert requester_web.post(url("reopen", ticket.number), {"reason": reason}).status_code == 302
    services.ticket_transition(actor=agent_user, ticket=Ticket.objects.get(pk=ticket.pk), to=TicketStatus.RESOLVED,
                               resolution_code="fixed", resolution_note=resolve_with)
    again = requester_web.post(url("reopen", ticket.number), {"reason": reason})
    assert again.status_code == 429
    html = text(again)
    assert scan(html) == [], scan(html)
    assert "&lt;script&gt;alert(&quot;why&quot;)&lt;/script&gt;&lt;svg onload=alert(8)&gt;</textarea>" in html


# --- Who may load what ---------------------------------------------------------------------------
# The full role x route x object matrix is tests/ui/test_portal_matrix.py; these add what it
# does not look at (the downloaded bytes, a session on the other tenant's host, the list).

GET_VIEWS = ["detail", "download"]


def _ticket_urls(ticket, attachment_id):
    n = ticket.number
    return {
        "detail": ("get", url("detail", n), {}),
        "download": ("get", url("download", n, attachment_id), {}),
        "reply": ("post", url("reply", n), {"body": "hello"}),
        "reopen": ("post", url("reopen", n), {"reason": "still broken"}),
        "cancel": ("post", url("cancel", n), {"reason": "no longer needed"}),
    }


@pytest.fixture
def matrix_tickets(tenant, requester_user, requester2_user, other_tenant):
    mine = services.ticket_create(actor=requester_user, title="Mine")
    mine_file = services.attachment_add(actor=requester_user, ticket=mine, fileobj=upload("a.txt"), filename="a.txt")
    theirs = services.ticket_create(actor=requester2_user, title="Theirs: requester2's secret")
    their_file = services.attachment_add(actor=requester2_user, ticket=theirs, fileobj=upload("b.txt"), filename="b.txt")
    from apps.accounts.models import User
    from apps.tickets.models import TicketCounter

    connection.set_tenant(other_tenant)
    try:
        TicketCounter.objects.update(last_number=900_000)
        beta_requester = User.objects.get(email="requester@beta.test")
        foreign = services.ticket_create(actor=beta_requester, title="Beta's secret ticket")
        foreign_file = services.attachment_add(actor=beta_requester, ticket=foreign, fileobj=upload("c.txt"), filename="c.txt")
    finally:
        connection.set_tenant(tenant)
    return {"mine": (mine, mine_file.pk), "theirs": (theirs, their_file.pk), "foreign": (foreign, foreign_file.pk)}


@pytest.mark.parametrize("view", GET_VIEWS)
def test_own_ticket_pages_load(matrix_tickets, requester_web, view):
    ticket, attachment_id = matrix_tickets["mine"]
    method, address, data = _ticket_urls(ticket, attachment_id)[view]
    response = requester_web.get(address)
    if view == "download":  # a signed, short-lived link to the API's download view
        assert response.status_code == 302
        assert response["Location"].startswith("/api/v1/attachments/download/")
        file_response = requester_web.get(response["Location"])
        assert file_response.status_code == 200
        assert b"".join(file_response.streaming_content).startswith(b"hello")
    else:
        assert response.status_code == 200


def test_a_session_of_one_tenant_means_nothing_on_another_tenants_host(matrix_tickets, web_as, requester_user):
    client = web_as(requester_user)
    response = client.get(url("list"), HTTP_HOST="beta.localhost")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_list_shows_only_the_requesters_own_tickets(matrix_tickets, requester_web):
    page = text(requester_web.get(url("list") + "?show=all"))
    assert "Mine" in page
    assert "Theirs" not in page
    assert "Beta" not in page


# --- Submitting ----------------------------------------------------------------------------------


def test_submitting_a_ticket_with_attachments_without_javascript(tenant, requester_web, requester_user):
    response = requester_web.post(url("new"), {
        "title": "VPN drops every hour",
        "description": "Since Monday.",
        "impact": str(Level.MEDIUM),  # "My team"
        "urgency": str(Level.HIGH),  # "I cannot work"
        "files": [upload("vpn.log"), SimpleUploadedFile("screen.png", PNG, content_type="image/png")],
    })
    ticket = Ticket.objects.get(title="VPN drops every hour")
    assert response.status_code == 302
    assert response["Location"] == url("detail", ticket.number)
    assert (ticket.requester, ticket.impact, ticket.urgency) == (requester_user, Level.MEDIUM, Level.HIGH)
    assert sorted(a.original_name for a in ticket.attachments.all()) == ["screen.png", "vpn.log"]
    page = text(requester_web.get(response["Location"]))
    assert "was sent" in page
    assert "vpn.log" in page
    assert "My team" in page
    assert "I cannot work" in page


def test_submitting_with_htmx_answers_with_a_redirect_header(tenant, requester_web):
    response = requester_web.post(url("new"), {"title": "Mouse", "impact": "3", "urgency": "3"}, **HTMX)
    ticket = Ticket.objects.get(title="Mouse")
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("detail", ticket.number)


def test_a_form_with_errors_comes_back_with_an_error_summary(tenant, requester_web):
    response = requester_web.post(url("new"), {"title": "  ", "impact": "9", "urgency": "2"})
    assert response.status_code == 422
    page = text(response)
    assert 'class="error-summary"' in page
    assert "Please write a short summary." in page
    assert 'aria-invalid="true"' in page
    assert not Ticket.objects.exists()
    fragment = text(requester_web.post(url("new"), {"title": ""}, **HTMX))
    assert fragment.lstrip().startswith("<form")
    assert "<html" not in fragment


def test_a_refused_file_does_not_lose_the_ticket(tenant, requester_web):
    response = requester_web.post(url("new"), {
        "title": "Strange program", "impact": "3", "urgency": "3", "files": [upload("setup.exe", b"MZ\x90\x00rest")],
    }, follow=True)
    ticket = Ticket.objects.get(title="Strange program")
    assert response.redirect_chain[-1][0] == url("detail", ticket.number)
    assert "was not attached" in text(response)
    assert not ticket.attachments.exists()


def test_the_category_picker_is_a_tree(tenant, admin_user, requester_web):
    hardware = services.category_create(actor=admin_user, name="Hardware")
    services.category_create(actor=admin_user, name="Printers", parent=hardware)
    services.category_create(actor=admin_user, name="Access")
    old = services.category_create(actor=admin_user, name="Old stuff")
    services.category_archive(actor=admin_user, category=old)
    page = text(requester_web.get(url("new")))
    options = re.findall(r'<option value="(\d*)"[^>]*>([^<]*)</option>', page)
    labels = [label for value, label in options if value]
    assert labels == ["Access", "Hardware", "Hardware › Printers"]


# --- Replying, reopening, cancelling -------------------------------------------------------------


def test_replying_adds_a_public_comment_and_files(ticket, requester_web):
    response = requester_web.post(url("reply", ticket.number), {"body": "Here is a photo.", "files": [upload("photo.txt")]})
    assert response.status_code == 302
    comment = TicketComment.objects.get(ticket=ticket)
    assert (comment.body, comment.internal) == ("Here is a photo.", False)
    assert [a.original_name for a in comment.attachments.all()] == ["photo.txt"]


def test_replying_with_htmx_returns_the_conversation_and_the_new_status(ticket, agent_user, requester_web):
    services.ticket_transition(actor=agent_user, ticket=ticket, to=TicketStatus.PENDING)
    assert "Waiting for your reply" in text(requester_web.get(url("detail", ticket.number)))
    response = requester_web.post(url("reply", ticket.number), {"body": "Here you are."}, **HTMX)
    assert response.status_code == 200
    fragment = text(response)
    assert fragment.lstrip().startswith('<section id="conversation"')
    assert "Here you are." in fragment
    assert "Your reply was sent." in fragment
    assert 'id="ticket-status" hx-swap-oob="true"' in fragment
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.OPEN


def test_reply_cooldown_is_a_form_error(ticket, requester_web, settings):
    settings.WARDEN_TICKETS_COMMENT_COOLDOWN_SECONDS = 60
    requester_web.post(url("reply", ticket.number), {"body": "one"})
    response = requester_web.post(url("reply", ticket.number), {"body": "two"})
    assert response.status_code == 422
    assert "Please wait" in text(response)
    assert TicketComment.objects.filter(ticket=ticket).count() == 1


def test_reopening_needs_a_reason_and_respects_the_cooldown(ticket, agent_user, requester_web, settings):
    settings.WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS = 600
    resolve(ticket, agent_user)
    page = text(requester_web.get(url("detail", ticket.number)))
    assert "Replaced the <strong>fuser</strong>." in page
    assert "Reopen request" in page

    missing = requester_web.post(url("reopen", ticket.number), {"reason": "   "})
    assert missing.status_code == 422
    assert "Please give a reason." in text(missing)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.RESOLVED

    done = requester_web.post(url("reopen", ticket.number), {"reason": "It jams again."})
    assert done.status_code == 302
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.OPEN

    resolve(Ticket.objects.get(pk=ticket.pk), agent_user)
    again = requester_web.post(url("reopen", ticket.number), {"reason": "And again."})
    assert again.status_code == 429
    assert int(again["Retry-After"]) > 0
    assert "reopened a short while ago" in text(again)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.RESOLVED


def test_cancelling_an_open_ticket_with_a_reason(ticket, requester_web):
    assert "Cancel request" in text(requester_web.get(url("detail", ticket.number)))
    assert requester_web.post(url("cancel", ticket.number), {"reason": ""}).status_code == 422
    response = requester_web.post(url("cancel", ticket.number), {"reason": "It works again."})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CANCELLED
    page = text(requester_web.get(url("detail", ticket.number)))
    assert "Cancel request" not in page
    assert 'id="reply-form"' not in page


def test_a_resolved_ticket_offers_no_cancel(ticket, agent_user, requester_web):
    resolve(ticket, agent_user)
    assert "Cancel request" not in text(requester_web.get(url("detail", ticket.number)))
    response = requester_web.post(url("cancel", ticket.number), {"reason": "never mind"})
    assert response.status_code == 422
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.RESOLVED


# --- Replies on resolved and closed requests (help-desk settings) ---------------------------------


def close(ticket, agent):
    resolved = resolve(ticket, agent)
    return services.ticket_transition(actor=agent, ticket=resolved, to=TicketStatus.CLOSED)


def follow_up_mode(admin_user):
    services.desk_settings_update(actor=admin_user, resolved_reply="follow_up")


def test_a_reply_on_a_resolved_request_reopens_it_and_says_so(ticket, agent_user, requester_web):
    resolve(ticket, agent_user)
    page = text(requester_web.get(url("detail", ticket.number)))
    assert "Replying reopens this request" in page
    response = requester_web.post(url("reply", ticket.number), {"body": "It jams again on page 2."}, follow=True)
    assert response.redirect_chain[-1][0] == url("detail", ticket.number)
    page = text(response)
    assert "Your reply reopened this request. The team will look at it again." in page
    assert "It jams again on page 2." in page
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.OPEN
    assert "The team marked this request as resolved" not in page


def test_with_htmx_a_reopening_reply_reloads_the_page(ticket, agent_user, requester_web):
    resolve(ticket, agent_user)
    response = requester_web.post(url("reply", ticket.number), {"body": "Still broken."}, **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("detail", ticket.number)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.OPEN


def test_a_reply_on_a_closed_request_opens_a_linked_follow_up(ticket, agent_user, requester_web):
    """The defect: the closed page offered no reply, and a reply was refused with a Conflict."""
    close(ticket, agent_user)
    page = text(requester_web.get(url("detail", ticket.number)))
    assert 'id="reply-form"' in page
    assert "This request is closed. A reply opens a new request linked to this one." in page
    response = requester_web.post(url("reply", ticket.number),
                                  {"body": "The printer **jams** again.", "files": [upload("jam.txt")]}, follow=True)
    new = Ticket.objects.get(follow_up_of=ticket)
    assert response.redirect_chain[-1][0] == url("detail", new.number)
    page = text(response)
    assert (f"This request was already closed, so your reply was sent as a new request #{new.number}, "
            "linked to it.") in page
    assert "The printer <strong>jams</strong> again." in page
    assert f'href="{url("detail", ticket.number)}"' in page  # "Follows up on #N"
    assert [a.original_name for a in new.attachments.all()] == ["jam.txt"]
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.CLOSED
    original = text(requester_web.get(url("detail", ticket.number)))
    assert f'href="{url("detail", new.number)}"' in original  # "Continued in #M"


def test_the_desk_links_a_follow_up_and_its_origin_both_ways(ticket, agent_user, requester_web, web_as):
    close(ticket, agent_user)
    requester_web.post(url("reply", ticket.number), {"body": "The printer jams again."})
    new = Ticket.objects.get(follow_up_of=ticket)
    desk = web_as(agent_user)
    follow_up_page = desk.get(reverse("desk:ticket", args=[new.number])).content.decode()
    assert "Follows up on" in follow_up_page
    assert f'href="{reverse("desk:ticket", args=[ticket.number])}"' in follow_up_page
    origin_page = desk.get(reverse("desk:ticket", args=[ticket.number])).content.decode()
    assert "Continued in" in origin_page
    assert f'href="{reverse("desk:ticket", args=[new.number])}"' in origin_page
    unrelated = desk.get(reverse("desk:ticket", args=[new.number])).content.decode()
    assert "Continued in" not in unrelated  # the follow-up itself has none


def test_follow_up_mode_closes_the_resolved_request(ticket, agent_user, admin_user, requester_web):
    follow_up_mode(admin_user)
    resolve(ticket, agent_user)
    assert "Replying opens a new request linked to this one" in text(requester_web.get(url("detail", ticket.number)))
    response = requester_web.post(url("reply", ticket.number), {"body": "Not fixed."}, **HTMX)
    new = Ticket.objects.get(follow_up_of=ticket)
    assert response["HX-Redirect"] == url("detail", new.number)
    page = text(requester_web.get(url("detail", new.number)))
    assert (f"This request was resolved, so your reply was sent as a new request #{new.number}, linked to it. "
            "The resolved request is now closed.") in page
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.CLOSED


def test_a_closed_request_needs_words_not_only_files(ticket, agent_user, requester_web):
    close(ticket, agent_user)
    response = requester_web.post(url("reply", ticket.number), {"body": "", "files": [upload("only.txt")]})
    assert response.status_code == 422
    assert "Write what is wrong" in text(response)
    assert not Ticket.objects.filter(follow_up_of=ticket).exists()


def test_the_outcomes_are_in_polish(ticket, agent_user, requester_web):
    requester_web.cookies["django_language"] = "pl"
    resolve(ticket, agent_user)
    assert "Odpowiedź ponownie otworzy to zgłoszenie" in text(requester_web.get(url("detail", ticket.number)))
    reopened = text(requester_web.post(url("reply", ticket.number), {"body": "Nadal nie działa."}, follow=True))
    assert "Twoja odpowiedź ponownie otworzyła to zgłoszenie." in reopened
    close(Ticket.objects.get(pk=ticket.pk), agent_user)
    followed = text(requester_web.post(url("reply", ticket.number), {"body": "Znowu."}, follow=True))
    new = Ticket.objects.get(follow_up_of=ticket)
    assert f"To zgłoszenie było już zamknięte, więc Twoja odpowiedź trafiła do nowego zgłoszenia #{new.number}" in followed
    assert "Kontynuacja zgłoszenia" in followed


def test_a_cancelled_request_still_takes_no_reply(ticket, requester_web):
    services.ticket_transition(actor=ticket.requester, ticket=ticket, to=TicketStatus.CANCELLED, reason="Gone")
    page = text(requester_web.get(url("detail", ticket.number)))
    assert 'id="reply-form"' not in page
    response = requester_web.post(url("reply", ticket.number), {"body": "hello"})
    assert response.status_code == 422


# --- Navigation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        ("requester", ["My requests", "New request"], ["Queue", "Administration"]),
        ("agent", ["Queue", "Board"], ["My requests", "Administration"]),
        ("admin", ["Queue", "Board", "Administration"], ["My requests"]),
    ],
)
def test_the_header_links_follow_the_role(users, web_as, role, present, absent):
    page = text(web_as(users[role]).get(url("list")))
    nav = re.search(r'<nav class="mainnav".*?</nav>', page, re.S).group(0)
    for label in present:
        assert f">{label}</a>" in nav
    for label in absent:
        assert f">{label}</a>" not in nav


def test_the_current_page_is_marked_in_the_header(requester_web):
    page = text(requester_web.get(url("new")))
    assert f'<a href="{url("new")}" aria-current="page">' in page
    assert f'<a href="{url("list")}" aria-current="page">' not in page
