"""SLA engine: business-hours clocks, pauses, warnings, breaches and escalations."""
