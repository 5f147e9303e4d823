"""Approvals of triage proposals in Slack: a Block Kit card per proposal (posted when it is
made, updated when it is decided or written back), and the clicks on it received over HTTP
(`hooks.py`) or Socket Mode (`socket.py`), both handled by `services.interaction_receive`.
Slack is only a way to ask: the clicking Slack user is mapped to a Warden user of this
tenant and `proposal_decide` asks the policy again. See docs/slack-approvals.md."""
