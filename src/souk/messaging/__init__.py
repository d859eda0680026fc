"""Customers and identities, conversations, messages, the inbound pipeline, the outbox and statuses."""
