"""Server-rendered user interfaces of the tickets app (agent desk, requester portal)."""
