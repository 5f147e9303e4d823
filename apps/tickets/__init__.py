"""Tickets: tickets, comments, attachments, categories, tags and the v1 API."""
