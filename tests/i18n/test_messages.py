"""What the services and the error pages say reaches people in their language: a refusal
raised by a service is written in the language active when it is raised (the request's),
English by default, so API clients that send no Accept-Language read what they always
read; codes (`type`, `status`, field names in `errors`, `retry_after`) never change."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from apps.core.errors import ApplicationError
from apps.tickets import services, workflow
from apps.tickets.choices import TicketStatus


@pytest.fixture
def ticket(tenant, agent_user, requester_user):
    return services.ticket_create(actor=agent_user, requester=requester_user, title="Drukarka nie drukuje")


def _refusal(fn) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        fn()
    return caught.value


def test_a_workflow_refusal_names_statuses_and_roles_in_the_active_language():
    with translation.override("pl"):
        message = _refusal(lambda: workflow.check_transition(role="requester", current="new", target="resolved")).message
    assert message == "Rola „zgłaszający” nie może zmienić statusu zgłoszenia z „nowe” na „rozwiązane”."
    with translation.override("en"):
        message = _refusal(lambda: workflow.check_transition(role="requester", current="new", target="resolved")).message
    assert message == "A requester cannot move a ticket from new to resolved."
    with translation.override("pl"):
        refusal = _refusal(lambda: workflow.check_transition(role="agent", current="closed", target="open"))
    assert refusal.message == (
        "Zgłoszenie nie może przejść ze statusu „zamknięte” do „otwarte”. Status „zamknięte” jest końcowy."
    )
    assert refusal.errors == {"to": ["Status „zamknięte” jest końcowy."]}
    # The title is lazy: it is read in the language of whoever renders the refusal.
    with translation.override("pl"):
        assert str(refusal.title) == "Niedozwolona zmiana statusu"
    with translation.override("en"):
        assert str(refusal.title) == "Invalid transition"


def test_resolving_without_a_code_lists_the_codes_with_their_polish_labels(ticket, agent_user):
    with translation.override("pl"):
        refusal = _refusal(lambda: services.ticket_transition(actor=agent_user, ticket=ticket, to=TicketStatus.RESOLVED))
    assert refusal.message == "Rozwiązanie zgłoszenia wymaga kodu rozwiązania i notatki."
    assert refusal.errors["resolution_code"][0].startswith("Wybierz kod rozwiązania: fixed (Naprawiono), workaround (")
    assert refusal.errors["resolution_note"] == ["Notatka o rozwiązaniu: to pole jest wymagane."]


def test_the_api_answers_in_the_language_asked_for_and_in_english_without_one(ticket, api_as, agent_user):
    url = f"/api/v1/tickets/{ticket.number}/transition/"
    polish = api_as(agent_user).post(url, {"to": "resolved"}, format="json", HTTP_ACCEPT_LANGUAGE="pl")
    english = api_as(agent_user).post(url, {"to": "resolved"}, format="json")
    assert polish.status_code == english.status_code == 400
    assert polish.json()["title"] == "Nieprawidłowe żądanie"
    assert polish.json()["detail"] == "Rozwiązanie zgłoszenia wymaga kodu rozwiązania i notatki."
    assert english.json()["title"] == "Invalid request"
    assert english.json()["detail"] == "Resolving a ticket needs a resolution code and a note."
    assert polish.json().keys() == english.json().keys()
    assert polish.json()["errors"].keys() == english.json()["errors"].keys() == {"resolution_code", "resolution_note"}


def test_a_404_page_and_a_404_problem_in_polish(tenant, web_as, api_as, agent_user):
    page = web_as(agent_user).get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="pl")
    assert page.status_code == 404
    html = page.content.decode()
    assert "404 · Nie znaleziono" in html
    assert "Pod tym adresem nic nie ma." in html
    problem = api_as(agent_user).get("/api/v1/no-such-endpoint/", HTTP_ACCEPT_LANGUAGE="pl")
    assert problem.status_code == 404
    assert problem.json()["title"] == "Nie znaleziono"
    assert problem.json()["detail"] == "Pod tym adresem nie ma punktu końcowego API."


def test_an_unknown_host_is_refused_in_the_browsers_language(tenant):
    """Refused before LocaleMiddleware runs: the page is still in the browser's language."""
    client = Client(HTTP_HOST="nobody.localhost")
    page = client.get("/", HTTP_ACCEPT="text/html", HTTP_ACCEPT_LANGUAGE="pl-PL,pl;q=0.9")
    assert page.status_code == 404
    assert "Pod tym adresem nie działa żadna organizacja." in page.content.decode()
    api = client.get("/api/v1/tickets/", HTTP_ACCEPT_LANGUAGE="pl")
    assert api.json()["title"] == "Nie znaleziono"
    assert api.json()["detail"] == "Pod tym adresem nie działa żadna organizacja."
    assert client.get("/api/v1/tickets/").json()["detail"] == "No organisation is served at this address."


def test_the_reopen_cooldown_is_polish_and_keeps_its_retry_after(ticket, agent_user, settings):
    settings.WARDEN_TICKETS_REOPEN_COOLDOWN_SECONDS = 600
    services.ticket_transition(actor=agent_user, ticket=ticket, to=TicketStatus.RESOLVED,
                               resolution_code="fixed", resolution_note="Wymieniono toner.")
    services.ticket_transition(actor=agent_user, ticket=ticket, to=TicketStatus.OPEN, reason="Nadal nie drukuje.")
    services.ticket_transition(actor=agent_user, ticket=ticket, to=TicketStatus.RESOLVED,
                               resolution_code="fixed", resolution_note="Wymieniono bęben.")
    with translation.override("pl"):
        refusal = _refusal(lambda: services.ticket_transition(actor=agent_user, ticket=ticket, to=TicketStatus.OPEN,
                                                               reason="Znowu."))
    assert refusal.status == 429
    assert refusal.message.startswith(f"Zgłoszenie #{ticket.number} zostało niedawno ponownie otwarte; ")
    assert refusal.errors["to"] == [refusal.message]
    assert 1 <= refusal.retry_after <= 601


def test_an_upload_refusal_names_the_file_type_in_polish():
    from apps.core.files import check_upload

    with translation.override("pl"):
        refusal = _refusal(lambda: check_upload(filename="setup.exe", size=100, head=b"MZ" + b"\0" * 98))
    assert refusal.message == "Plik „setup.exe” wygląda na plik wykonywalny Windows, a to jest niedozwolone."
    assert refusal.code == "dangerous_type"


def test_the_timeline_shows_the_systems_own_reasons_in_polish_and_peoples_as_written():
    from apps.desk.timeline import reason_text

    with translation.override("pl"):
        assert reason_text("Closed automatically 7 days after resolution.") == (
            "Zamknięto automatycznie 7 dni po rozwiązaniu.")
        assert reason_text("Closed automatically 1 day after resolution.") == (
            "Zamknięto automatycznie 1 dzień po rozwiązaniu.")
        assert reason_text("The requester replied after the ticket was resolved; the reply opened follow-up #12.") == (
            "Zgłaszający odpowiedział po rozwiązaniu zgłoszenia; odpowiedź otworzyła zgłoszenie uzupełniające #12.")
        assert reason_text("Closed automatically, as agreed.") == "Closed automatically, as agreed."
    with translation.override("en"):
        assert reason_text("Closed automatically 7 days after resolution.") == (
            "Closed automatically 7 days after resolution.")
