"""Fake outside services for tests and demos, served on 127.0.0.1 (python -m fakes.<name>)."""
