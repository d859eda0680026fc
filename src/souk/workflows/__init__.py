"""Temporal workflows and activities for long jobs (history import, session lifecycle)."""
