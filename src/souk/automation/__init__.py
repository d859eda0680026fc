"""Routing, pipelines, teams, working tools, automation rules, outgoing webhooks and reports (issue 11)."""
