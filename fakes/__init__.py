"""Fakes of the outside services Warden talks to, runnable on 127.0.0.1.

Each fake is a small HTTP server that behaves like the real service for what Warden
uses of it (paging, query syntax, errors, rate limits), with a Python API and control
endpoints to seed data, change it and inject failures. Tests start them in-process;
benchmarks and demos run them standalone (`python -m fakes.servicenow --port N`).
They import nothing from Django or the apps: the point is to speak the wire protocol.
"""
