"""The policy action of the GitHub connector (registered from `github.ready()`).

Linking is working the ticket, so it is named under `ticket.`: the baseline's "agents
work tickets" (`ticket.*`) and "admins may do everything" allow it, requesters are
denied. Creating an issue is also a write through the connector and asks the capped
`connector.write` besides."""

from __future__ import annotations

TICKET_LINK_ISSUE = "ticket.link_issue"

DESCRIPTIONS = {
    TICKET_LINK_ISSUE: "Link a ticket to an issue in an outside system (GitHub): create the issue, link an existing "
                       "one, retry or remove the link (context: connector, operation)",
}
