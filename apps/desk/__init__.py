"""The agent desk: queue, ticket detail and Kanban board (mounted at /desk/)."""
