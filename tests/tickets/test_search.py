"""Search that finds tickets (issue 11 item 5; apps/tickets/search.py, ADR 0020).

Real PostgreSQL: a small corpus written through the services (so the vectors and the word
list are what production writes), searched through the selector, the API, the desk and
the portal. Every case names exactly which tickets a query finds, so a wider or a narrower
result fails it.
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser

import pytest
from django.db import connection

from apps.tickets import search, selectors, services
from apps.tickets.models import SearchWord, Ticket, TicketCounter

# key: (title, description). "seven" is created first, as ticket number 7.
CORPUS = {
    "seven": ("Badge reader at the door", "It blinks red."),
    "win7": ("Upgrade from Windows 7", "The old machine keeps crashing."),
    "printer": ("Printer jammed on floor 2", "Paper stuck in tray 3."),
    "laser": ("Laser printer prints blank pages", "Toner replaced yesterday."),
    "phrase": ("Copier error", "The copier says it is out of paper again."),
    "scatter": ("Stationery order", "We are out of staples; paper is fine."),
    "drukarka": ("Drukarka nie drukuje", "Drukarka w sekretariacie pokazuje błąd."),
    "haslo": ("Zapomniane hasło do poczty", "Proszę o reset."),
    "faktura": ("Faktura za maj", "Brak pozycji na fakturze."),
    "toner": ("Toner low", "Order a new cartridge."),
    "laptop": ("Laptop will not boot", "Black screen after the logo."),
    "firmware": ("Dock issue", "Monitors stay dark."),
    "hdmi": ("Monitor flickers", "Every few seconds."),
    "internal": ("Mailbox full", "Cannot send mail."),
}
PUBLIC_COMMENT = ("firmware", "Updated the dock firmware to 2.1.")
RESOLUTION_NOTE = ("hdmi", "Swapped the HDMI cable.")
# The internal note is written after a public reply with a word in common: the newest
# comment with the word is the note, which must never be a requester's snippet.
INTERNAL_REPLY = ("internal", "We are looking at your mailbox.")
INTERNAL_NOTE = ("internal", "Mailbox quota raised by zebraword.")


@pytest.fixture
def corpus(make_ticket, agent_user):
    """{key: ticket} of CORPUS, requested by requester@alpha; "seven" is number 7."""
    TicketCounter.objects.update(last_number=6)
    made = {key: make_ticket(title=title, description=description) for key, (title, description) in CORPUS.items()}
    assert made["seven"].number == 7
    services.comment_add(actor=agent_user, ticket=made[PUBLIC_COMMENT[0]], body=PUBLIC_COMMENT[1])
    services.ticket_transition(actor=agent_user, ticket=made[RESOLUTION_NOTE[0]], to="resolved",
                               resolution_code="fixed", resolution_note=RESOLUTION_NOTE[1])
    services.comment_add(actor=agent_user, ticket=made[INTERNAL_REPLY[0]], body=INTERNAL_REPLY[1])
    services.comment_add(actor=agent_user, ticket=made[INTERNAL_NOTE[0]], body=INTERNAL_NOTE[1], internal=True)
    return made


def keys_of(corpus: dict, numbers) -> list[str]:
    by_number = {ticket.number: key for key, ticket in corpus.items()}
    return [by_number.get(number, f"#{number}") for number in numbers]


def searched(actor, q: str) -> list[int]:
    """The numbers the selector finds for `q`, in the list's (relevance) order."""
    return list(selectors.ticket_list(actor=actor, filters={"q": q}).values_list("number", flat=True))


def api_results(client, q: str, **params) -> list[dict]:
    response = client.get("/api/v1/tickets/", {"q": q, "page_size": 100, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- What a query finds -------------------------------------------------------------------------

# (who, query, the tickets found, the one that must come first or None)
CASES = [
    pytest.param("agent", "7", {"seven", "win7"}, "seven", id="number"),
    pytest.param("agent", "#7", {"seven", "win7"}, "seven", id="number-with-hash"),
    pytest.param("requester", "#7", {"seven", "win7"}, "seven", id="number-requester"),
    pytest.param("agent", "printers", {"printer", "laser"}, None, id="english-plural-finds-singular"),
    pytest.param("agent", "printer", {"printer", "laser"}, None, id="english-singular"),
    pytest.param("agent", "drukarki", {"drukarka"}, None, id="polish-genitive-finds-nominative"),
    pytest.param("agent", "faktury", {"faktura"}, None, id="polish-genitive"),
    pytest.param("agent", "fakturą", {"faktura"}, None, id="polish-instrumental-with-accent"),
    pytest.param("agent", "haslo", {"haslo"}, None, id="polish-without-accent-finds-accented"),
    pytest.param("agent", "HASŁA", {"haslo"}, None, id="polish-other-form-upper-case"),
    pytest.param("agent", "print", {"printer", "laser"}, None, id="prefix-while-typing"),
    pytest.param("agent", "cartr", {"toner"}, None, id="prefix-of-a-long-word"),
    pytest.param("agent", "cartr order", set(), None, id="only-the-last-word-is-a-prefix"),
    pytest.param("agent", '"out of paper"', {"phrase"}, None, id="phrase"),
    pytest.param("agent", "out of paper", {"phrase", "scatter"}, None, id="same-words-not-a-phrase"),
    pytest.param("agent", "printer -laser", {"printer"}, None, id="exclusion"),
    pytest.param("agent", "laptop or toner", {"laptop", "toner", "laser"}, None, id="or"),
    pytest.param("agent", "firmware", {"firmware"}, None, id="public-comment-agent"),
    pytest.param("requester", "firmware", {"firmware"}, None, id="public-comment-requester"),
    pytest.param("agent", "hdmi", {"hdmi"}, None, id="resolution-note-agent"),
    pytest.param("requester", "hdmi", {"hdmi"}, None, id="resolution-note-requester"),
    pytest.param("agent", "zebraword", {"internal"}, None, id="internal-note-agent"),
    pytest.param("requester", "zebraword", set(), None, id="internal-note-never-requester"),
    pytest.param("requester", "quota", set(), None, id="internal-note-other-word-never-requester"),
    pytest.param("agent", "!!!", set(), None, id="no-words"),
]


@pytest.mark.parametrize(("who", "q", "expected", "first"), CASES)
def test_search_finds(corpus, agent_user, requester_user, who, q, expected, first):
    actor = agent_user if who == "agent" else requester_user
    found = keys_of(corpus, searched(actor, q))
    assert set(found) == expected, found
    if first is not None:
        assert found[0] == first, found


@pytest.mark.parametrize(("who", "q", "expected", "first"), CASES)
def test_search_finds_through_the_api(corpus, api_as, agent_user, requester_user, who, q, expected, first):
    client = api_as(agent_user if who == "agent" else requester_user)
    results = api_results(client, q)
    found = keys_of(corpus, [item["number"] for item in results])
    assert set(found) == expected, found
    if first is not None:
        assert found[0] == first, found
        assert results[0]["search"]["number"] is True
        assert all(item["search"]["number"] is False for item in results[1:])


def test_requester_never_sees_internal_text_anywhere_in_the_api(corpus, api_as, requester_user, agent_user):
    client = api_as(requester_user)
    for q in ("zebraword", "quota", "mailbox", "mailbox zebraword", "mailbox or zebraword", "zebra"):
        body = json.dumps(api_results(client, q))
        assert "zebraword" not in body, (q, body)
        assert "quota" not in body, (q, body)
    # ... while the agent finds the note and is told it is one.
    (item,) = api_results(api_as(agent_user), "zebraword")
    assert item["number"] == corpus["internal"].number
    assert item["search"]["snippet_source"] == "internal_comment"
    assert "<mark>zebraword</mark>" in item["search"]["snippet_html"]


def test_requester_reads_only_their_own_tickets_in_a_search(corpus, api_as, requester2_user):
    assert api_results(api_as(requester2_user), "printer") == []


# --- Ranking -------------------------------------------------------------------------------------


# Longer text ranks lower (the rank is divided by the length's logarithm): the ticket that
# must win has the longer text, so only the fields' weights can put it first.
LONG = " ".join(["Several", "people", "on", "the", "third", "floor", "reported", "it", "this", "week"] * 4)


def test_a_title_match_ranks_above_a_comment_match(make_ticket, agent_user, api_as):
    in_title = make_ticket(title="Keyboard keys stuck", description=LONG)
    in_comment = make_ticket(title="Desk", description="")  # newer: first by number
    services.comment_add(actor=agent_user, ticket=in_comment, body="Keyboard.")
    expected = [in_title.number, in_comment.number]
    assert searched(agent_user, "keyboard") == expected
    assert [item["number"] for item in api_results(api_as(agent_user), "keyboard")] == expected
    # An explicit ordering wins over relevance.
    assert [item["number"] for item in api_results(api_as(agent_user), "keyboard", ordering="-number")] == \
        expected[::-1]


def test_a_description_match_ranks_above_a_comment_match(make_ticket, agent_user):
    in_description = make_ticket(title="Slow", description="The scanner takes minutes for one page, "
                                 "several people on the third floor said")
    in_comment = make_ticket(title="Slow", description="Nothing else at all.")
    services.comment_add(actor=agent_user, ticket=in_comment, body="Scanner.")
    assert searched(agent_user, "scanner") == [in_description.number, in_comment.number]


def _analyze() -> None:
    """PostgreSQL's statistics of the tickets, as autovacuum would gather them."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_ticket")


def _walk(client, url: str) -> tuple[list[int], list[dict]]:
    numbers, pages = [], []
    while url:
        page = client.get(url).json()
        pages.append(page)
        numbers += [item["number"] for item in page["results"]]
        url = page["next"]
    return numbers, pages


def test_relevance_pages_walk_every_match_once_past_the_ranked_window(make_ticket, agent_user, api_as, settings):
    """An agent's search ranks the matches among the newest tickets, about
    WARDEN_TICKETS_SEARCH_RANKED_MAX of them by PostgreSQL's statistics; older matches follow
    by number. Pages in both directions give every match once, in that order."""
    settings.WARDEN_TICKETS_SEARCH_RANKED_MAX = 3
    made = []
    for i in range(8):
        in_title = i in (1, 6)
        made.append(make_ticket(title=f"Router {i}" if in_title else f"Case {i}",
                                description="Nothing." if in_title else f"The router {i} restarts."))
    make_ticket(title="Unrelated", description="Nothing.")
    _analyze()
    compiled = search.compile_search("router")
    assert compiled.selectivity == pytest.approx(8 / 9, abs=0.01)
    start = compiled.newest - math.ceil(3 / compiled.selectivity)
    assert start == 5
    numbers = sorted((t.number for t in made), reverse=True)
    titles = {made[1].number, made[6].number}
    window = sorted((n for n in numbers if n > start), key=lambda n: (n in titles, n), reverse=True)
    expected = window + [n for n in numbers if n <= start]
    assert expected == [7, 8, 6, 5, 4, 3, 2, 1]  # #2 matches in its title too, but is older than the window
    client = api_as(agent_user)
    forward, pages = _walk(client, "/api/v1/tickets/?q=router&page_size=2")
    assert forward == expected
    backward, url = [], pages[-1]["previous"]
    while url:
        page = client.get(url).json()
        backward = [item["number"] for item in page["results"]] + backward
        url = page["previous"]
    assert backward == expected[: len(expected) - len(pages[-1]["results"])]
    # A cursor of one search is refused by another.
    token = re.search(r"cursor=([^&]+)", pages[0]["next"]).group(1)
    refused = client.get("/api/v1/tickets/", {"q": "routers", "cursor": token.replace("%3A", ":")})
    assert refused.status_code == 400
    assert "cursor" in refused.json()["errors"]


def test_without_statistics_or_for_a_requester_every_match_is_ranked(make_ticket, agent_user, requester_user,
                                                                     api_as, settings):
    settings.WARDEN_TICKETS_SEARCH_RANKED_MAX = 1
    old_title = make_ticket(title="Router broken", description="Nothing.")
    newer = [make_ticket(title=f"Case {i}", description="The router restarts.") for i in range(3)]
    expected = [old_title.number] + sorted((t.number for t in newer), reverse=True)
    assert search.compile_search("router").selectivity is None  # never analysed: a new, small tenant
    assert _walk(api_as(agent_user), "/api/v1/tickets/?q=router&page_size=2")[0] == expected
    _analyze()
    assert search.compile_search("router").selectivity == pytest.approx(1.0)
    # Agents: a window of one ticket (the newest), the title match is older.
    assert _walk(api_as(agent_user), "/api/v1/tickets/?q=router&page_size=2")[0] == sorted(expected, reverse=True)
    # Requesters read their own tickets only: all of them ranked, whatever the statistics.
    assert _walk(api_as(requester_user), "/api/v1/tickets/?q=router&page_size=2")[0] == expected


@pytest.mark.parametrize(("q", "share"), [
    ("router", 1.0),          # every ticket
    ("printer", 0.5),         # half of them
    ("printers", 0.5),        # widened to printer
    ("prin", 0.5),            # a prefix
    ("router printer", 0.5),  # both: at most the rarer's share
    ("printer or router", 1.0),
    ('"router printer"', 0.5),
])
def test_selectivity_comes_from_postgresqls_statistics(make_ticket, q, share):
    for i in range(10):
        make_ticket(title=f"Router {i}" + (" printer" if i % 2 else ""), description="Nothing.")
    _analyze()
    assert search.compile_search(q).selectivity == pytest.approx(share, abs=0.01)
    assert search.compile_search("zzzunknown").selectivity < 0.5  # rare: not among the common lexemes


def test_relevance_ordering_needs_a_search(api_as, agent_user, ticket):
    response = api_as(agent_user).get("/api/v1/tickets/", {"ordering": "relevance"})
    assert response.status_code == 400
    assert "ordering" in response.json()["errors"]


# --- Highlights ----------------------------------------------------------------------------------

# (who, query, ticket, title_html, snippet_source, snippet marks)
HIGHLIGHTS = [
    pytest.param("agent", "printers", "printer", "<mark>Printer</mark> jammed on floor 2", None, [],
                 id="english-form"),
    pytest.param("agent", "print", "laser", "Laser <mark>printer</mark> <mark>prints</mark> blank pages", None, [],
                 id="prefix"),
    pytest.param("agent", "drukarki", "drukarka", "<mark>Drukarka</mark> nie drukuje", "description",
                 ["Drukarka"], id="polish-form"),
    pytest.param("agent", "faktury", "faktura", "<mark>Faktura</mark> za maj", "description", ["fakturze"],
                 id="polish-forms-in-title-and-snippet"),
    pytest.param("agent", "haslo", "haslo", "Zapomniane <mark>hasło</mark> do poczty", None, [],
                 id="accent-kept-in-the-text"),
    pytest.param("agent", "paper", "phrase", "Copier error", "description", ["paper"], id="description"),
    pytest.param("agent", '"out of paper"', "phrase", "Copier error", "description", ["out", "of", "paper"],
                 id="phrase"),
    pytest.param("agent", "printer -laser", "printer", "<mark>Printer</mark> jammed on floor 2", None, [],
                 id="excluded-word-not-marked"),
    pytest.param("requester", "firmware", "firmware", "Dock issue", "comment", ["firmware"], id="comment"),
    pytest.param("requester", "hdmi", "hdmi", "Monitor flickers", "resolution_note", ["HDMI"],
                 id="resolution-note"),
    pytest.param("agent", "quota", "internal", "Mailbox full", "internal_comment", ["quota"],
                 id="internal-note-for-agents"),
    pytest.param("requester", "mailbox", "internal", "<mark>Mailbox</mark> full", "comment", ["mailbox"],
                 id="internal-note-never-the-requesters-snippet"),
    pytest.param("agent", "mailbox", "internal", "<mark>Mailbox</mark> full", "internal_comment", ["Mailbox"],
                 id="the-newest-matching-comment-for-agents"),
    pytest.param("agent", "#7", "seven", "Badge reader at the door", None, [], id="number"),
]


@pytest.mark.parametrize(("who", "q", "key", "title_html", "source", "marks"), HIGHLIGHTS)
def test_highlights_mark_the_matched_words(corpus, api_as, agent_user, requester_user, who, q, key, title_html,
                                           source, marks):
    client = api_as(agent_user if who == "agent" else requester_user)
    (item,) = [i for i in api_results(client, q) if i["number"] == corpus[key].number]
    hit = item["search"]
    assert hit["title_html"] == title_html
    assert hit["snippet_source"] == source
    assert re.findall(r"<mark>(.*?)</mark>", hit["snippet_html"]) == marks
    assert hit["number"] is (key == "seven")


def test_no_search_no_highlight(corpus, api_as, agent_user):
    response = api_as(agent_user).get("/api/v1/tickets/")
    assert {item["search"] for item in response.json()["results"]} == {None}
    detail = api_as(agent_user).get(f"/api/v1/tickets/{corpus['printer'].number}/", {"q": "printer"})
    assert detail.json()["search"] is None


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text += data


@pytest.mark.parametrize("html_text", [
    '<script>alert("x")</script>',
    '<img src=x onerror="alert(1)">',
    '"><svg onload=alert(1)>',
    "&lt;b&gt; already escaped",
])
def test_highlights_escape_the_ticket_text(make_ticket, api_as, agent_user, html_text):
    title, description, comment = f"{html_text} printer", f"Before {html_text} printer after.", f"{html_text} toner"
    ticket = make_ticket(title=title, description=description)
    services.comment_add(actor=agent_user, ticket=ticket, body=comment)
    for q, field, text in (("printer", "title_html", title), ("printer", "snippet_html", description),
                           ("toner", "snippet_html", comment)):
        (item,) = api_results(api_as(agent_user), q)
        html = item["search"][field]
        parsed = _Tags()
        parsed.feed(html)
        assert parsed.tags == ["mark"], (q, field, html)  # the only element is the one we add
        # The text reads as it was written: whole for the title, a fragment of it for a snippet.
        assert parsed.text == text if field == "title_html" else parsed.text in text, (q, field, html)
        assert len(parsed.text) > len(q)


def test_marker_characters_in_stored_text_cannot_forge_marks(make_ticket, agent_user):
    """The services refuse control characters; a row written by another path still cannot
    open a <mark> of its own."""
    ticket = make_ticket(title="Printer on fire", description="Smoke.")
    Ticket.objects.filter(pk=ticket.pk).update(title="\x02<b>Printer</b>\x03 on fire")
    (row,) = selectors.ticket_list(actor=agent_user, filters={"q": "printer"}, highlight=True)
    assert str(search.hit(row).title_html) == "&lt;b&gt;<mark>Printer</mark>&lt;/b&gt; on fire"


# --- The desk and the portal ------------------------------------------------------------------


def test_desk_queue_ranks_and_highlights(corpus, web_as, agent_user):
    html = web_as(agent_user).get("/desk/", {"q": "quota"}).content.decode()
    rows = re.findall(r'<tr data-row id="row-(\d+)">(.*?)</tr>', html, re.S)
    assert [int(n) for n, _row in rows] == [corpus["internal"].number]
    row = rows[0][1]
    assert "<mark>quota</mark>" in row
    assert "search-snippet is-internal" in row  # said to be an internal note
    html = web_as(agent_user).get("/desk/", {"q": "keyboard printers"}).content.decode()
    assert "No ticket matches these filters." in html
    html = web_as(agent_user).get("/desk/", {"q": "printers"}).content.decode()
    titles = re.findall(r'<a class="row-link"[^>]*>(.*?)</a>', html, re.S)
    assert titles == ["Laser <mark>printer</mark> prints blank pages", "<mark>Printer</mark> jammed on floor 2"]


def _portal_results(client, q: str) -> str:
    html = client.get("/portal/", {"show": "all", "q": q}).content.decode()
    found = re.search(r'<ul class="ticket-list">.*?</ul>|<div class="card empty">.*?</div>', html, re.S)
    return found.group(0)


def test_portal_search_never_shows_internal_text(corpus, web_as, requester_user):
    client = web_as(requester_user)
    for q in ("zebraword", "quota", "mailbox zebraword"):
        assert "No request matches this search." in _portal_results(client, q)
    results = _portal_results(client, "mailbox")
    assert re.findall(r'<li class="card ticket-row">', results) == ['<li class="card ticket-row">']
    assert "<mark>Mailbox</mark> full" in results
    assert "quota" not in results
    assert "zebraword" not in results
    assert "Comment:</span> We are looking at your <mark>mailbox</mark>." in results
    results = _portal_results(client, "firmware")
    assert '<p class="search-snippet"><span class="snippet-source">Comment:</span> Updated the dock ' \
           "<mark>firmware</mark> to 2.1.</p>" in results


def test_portal_search_ranks_and_keeps_the_search_on_every_link(make_ticket, web_as, requester_user, agent_user):
    in_title = make_ticket(title="Scanner offline", description="Since Monday.")
    in_comment = make_ticket(title="Desk issue", description="Since Tuesday.")
    services.comment_add(actor=agent_user, ticket=in_comment, body="The scanner was unplugged.")
    html = web_as(requester_user).get("/portal/", {"q": "scanner"}).content.decode()
    numbers = [int(n) for n in re.findall(r'<span class="num">#(\d+)</span>', html)]
    assert numbers == [in_title.number, in_comment.number]
    assert 'href="?show=closed&amp;q=scanner"' in html


# --- The word list --------------------------------------------------------------------------------


def test_word_list_learns_from_every_write(make_ticket, agent_user):
    ticket = make_ticket(title="Skaner", description="Nowy skaner.")
    services.comment_add(actor=agent_user, ticket=ticket, body="Skanery na drugim piętrze.", internal=True)
    services.ticket_update(actor=agent_user, ticket=ticket, title="Skanerem nie da się skanować")
    words = set(SearchWord.objects.values_list("word", flat=True))
    assert {"skaner", "nowy", "skanery", "pietrze", "skanerem", "skanowac"} <= words  # unaccented
    assert "na" not in words  # shorter than 3 characters


def test_word_list_is_per_tenant(make_ticket, tenant, other_tenant, corpus):
    """A word of tenant beta never widens tenant alpha's query (and the other way round)."""
    from apps.accounts.models import User

    connection.set_tenant(other_tenant)
    try:
        beta_requester = User.objects.get(email="requester@beta.test")
        services.ticket_create(actor=beta_requester, title="Problem z drukarkami", description="Wszystkie stoją.")
        in_beta = search.compile_search("drukarki").tsquery
        beta_found = searched(beta_requester, "drukarki")
    finally:
        connection.set_tenant(tenant)
    in_alpha = search.compile_search("drukarki").tsquery
    assert "'drukarkami'" in in_beta, in_beta
    assert "'drukarka'" not in in_beta, in_beta
    assert "'drukarka'" in in_alpha, in_alpha
    assert "'drukarkami'" not in in_alpha, in_alpha
    assert len(beta_found) == 1
    assert searched(User.objects.get(email="agent@alpha.test"), "drukarkami") == [corpus["drukarka"].number]


# --- Parsing (pure) -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("printer", [[("printer", False, False, True)]]),
    ("printer laser", [[("printer", False, False, False), ("laser", False, False, True)]]),
    ('"out of paper" -laser', [[("out of paper", True, False, False), ("laser", False, True, False)]]),
    ("a or b", [[("a", False, False, False)], [("b", False, False, True)]]),
    ("or printer or", [[("printer", False, False, True)]]),
    ("- printer", [[("-", False, False, False), ("printer", False, False, True)]]),
    ('-"a b', [[("a b", True, True, False)]]),
])
def test_parse(text, expected):
    parsed = [[(t.text, t.phrase, t.negated, t.prefix) for t in group] for group in search.parse(text)]
    assert parsed == expected


@pytest.mark.parametrize(("text", "number"), [
    ("7", 7), ("#7", 7), (" # 12 ", 12), ("#0", None), ("7 printers", None), ("x7", None),
    ("99999999999", None),
])
def test_number_in(text, number):
    assert search.number_in(text) == number
