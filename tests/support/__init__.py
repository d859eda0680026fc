"""Test helpers: real servers once per test session, fake messaging platforms."""
