"""Workflow templates (YAML, validated against `schema.json` when loaded)."""
