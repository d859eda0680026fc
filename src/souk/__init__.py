"""Souk: a self-hostable conversational-commerce hub."""

__version__ = "0.1.0"
