"""Time: SLA policies, clocks and escalation (built in the SLA issue)."""
