"""The desk's side of notifications: following a ticket, and whom a comment may mention
(the composer's @ autocomplete)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.notifications.services.watchers import ticket_follow
from apps.tickets import selectors
from apps.tickets.mentions import suggestions

from .access import agent_required


@agent_required
@require_POST
def follow_view(request: HttpRequest, number: int) -> HttpResponse:
    """Follow (follow=1) or stop following (follow=0) the ticket; back to its page."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    ticket_follow(actor=request.user, ticket=ticket, follow=request.POST.get("follow") == "1")
    return redirect(reverse("desk:ticket", kwargs={"number": number}) + "#watch")


@agent_required
@require_GET
def mentions_view(request: HttpRequest, number: int) -> JsonResponse:
    """People a comment on the ticket may mention, for `@q` typed so far (`internal=1`:
    an internal note, which cannot mention the requester)."""
    ticket = selectors.ticket_get_visible(actor=request.user, number=number)
    internal = request.GET.get("internal") == "1"
    return JsonResponse({"people": suggestions(ticket, internal=internal, typed=request.GET.get("q", ""))})
