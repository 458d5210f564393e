"""Shipped policy data: the default form mapping, triage rules and checklist."""
