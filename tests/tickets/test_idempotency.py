"""Idempotency-Key on ticket writes (the core middleware, seen from the tickets API)."""

from __future__ import annotations

import threading
import time
import uuid
from unittest import mock

import pytest

from apps.tickets.models import Ticket


def key() -> str:
    return f"test-{uuid.uuid4()}"


def test_replay_creates_one_ticket(api_as, requester_user):
    client = api_as(requester_user)
    headers = {"HTTP_IDEMPOTENCY_KEY": key()}
    first = client.post("/api/v1/tickets/", {"title": "Once only"}, format="json", **headers)
    again = client.post("/api/v1/tickets/", {"title": "Once only"}, format="json", **headers)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]
    assert Ticket.objects.filter(title="Once only").count() == 1


def test_same_key_different_body_is_422(api_as, requester_user):
    client = api_as(requester_user)
    headers = {"HTTP_IDEMPOTENCY_KEY": key()}
    assert client.post("/api/v1/tickets/", {"title": "First"}, format="json", **headers).status_code == 201
    other = client.post("/api/v1/tickets/", {"title": "Second"}, format="json", **headers)
    assert other.status_code == 422
    assert other["Content-Type"].startswith("application/problem+json")
    assert not Ticket.objects.filter(title="Second").exists()


def test_comment_replay_posts_one_comment(ticket, api_as, requester_user):
    client = api_as(requester_user)
    headers = {"HTTP_IDEMPOTENCY_KEY": key()}
    url = f"/api/v1/tickets/{ticket.number}/comments/"
    first = client.post(url, {"body": "Only once"}, format="json", **headers)
    second = client.post(url, {"body": "Only once"}, format="json", **headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert ticket.comments.count() == 1


@pytest.mark.slow
def test_concurrent_requests_with_one_key_run_once(fresh_tenant):
    """Two clients send the same keyed create at the same moment: one runs (201), the
    other is told it is in flight (409); exactly one ticket exists afterwards."""
    from django.db import connections
    from django.test import Client

    from apps.accounts.models import User
    from apps.accounts.services import token_issue
    from apps.tickets import services

    admin = User.objects.get(email=f"admin@{fresh_tenant.slug}.test")
    token = token_issue(user=admin).key
    host = f"{fresh_tenant.slug}.localhost"
    idem = key()
    barrier = threading.Barrier(2)
    results: list[int] = []
    real_create = services.ticket_create

    def slow_create(**kwargs):
        time.sleep(0.6)  # keep the first request in flight while the second arrives
        return real_create(**kwargs)

    def send():
        try:
            client = Client(HTTP_HOST=host)
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/tickets/",
                {"title": "Race"},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Token {token}",
                HTTP_IDEMPOTENCY_KEY=idem,
            )
            results.append(response.status_code)
        finally:
            connections.close_all()

    with mock.patch.object(services, "ticket_create", slow_create):
        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert sorted(results) == [201, 409], results
    assert Ticket.objects.filter(title="Race").count() == 1
    # Once the first finished, the same request replays its answer.
    replay = Client(HTTP_HOST=host).post(
        "/api/v1/tickets/", {"title": "Race"}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}", HTTP_IDEMPOTENCY_KEY=idem,
    )
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert Ticket.objects.filter(title="Race").count() == 1


@pytest.mark.slow
def test_concurrent_creates_get_distinct_gapless_numbers(fresh_tenant):
    """Numbers come from a locked counter row: parallel creates never collide or skip."""
    from django.db import connections
    from django.test import Client

    from apps.accounts.models import User
    from apps.accounts.services import token_issue

    admin = User.objects.get(email=f"admin@{fresh_tenant.slug}.test")
    token = token_issue(user=admin).key
    host = f"{fresh_tenant.slug}.localhost"
    barrier = threading.Barrier(4)
    numbers: list[int] = []

    def send(i: int):
        try:
            client = Client(HTTP_HOST=host)
            barrier.wait(timeout=10)
            for j in range(5):
                response = client.post(
                    "/api/v1/tickets/", {"title": f"P{i}-{j}"}, content_type="application/json",
                    HTTP_AUTHORIZATION=f"Token {token}",
                )
                assert response.status_code == 201, response.content
                numbers.append(response.json()["number"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(numbers) == list(range(1, 21))
