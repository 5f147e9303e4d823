"""The outbound-only customer agent, Warden's side (docs/decisions/0024-customer-agent.md).

A connector whose `route` is "agent" reaches a system inside the customer's network (an
on-premises GitHub Enterprise, a ServiceNow reachable only from inside) through a small
process the customer runs there (`python -m warden_agent`, top-level package
`warden_agent/`). The agent only connects out: it long-polls the tenant's host for the
calls queued for it, makes them, and posts the results back.

* models.py: `ConnectorAgent` (a registered agent: its token as a hash only, revoked,
  last contact, version) and `AgentCall` (one call waiting for, held by, or answered by
  an agent), and the `Route` vocabulary of `Connector.route`.
* tokens.py: making and checking agent tokens (pure).
* guard.py: the URL check of an agent-routed connector (pure).
* services.py: registering and revoking agents (policy `connector.configure`, audited),
  authenticating a poll, claiming calls under a lease, storing results, pruning.
* transport.py: what `ConnectorClient` uses instead of one HTTP request when the route is
  "agent": queue the call, wake the agent, wait (bounded) for its result.
* wake.py: the Redis signals that cut the waits short (the database stays the truth).
* api.py, urls.py: the agent's endpoints (`/api/v1/connectors/agent/poll/`, `results/`).
* admin.py: register (the token is shown once), revoke, last contact and version.

This package imports nothing of `apps.connectors` above it (models, client, services,
admin, api): they import it.
"""
