"""The requester portal: submit tickets, follow them, reply, reopen, cancel.

Mounted by config/urls_tenant.py at ``portal/`` (namespace ``portal``). Views are thin:
they read through ``apps.tickets.selectors`` (which hide internal notes from requesters)
and write through ``apps.tickets.services`` (policy check + audit).
"""
