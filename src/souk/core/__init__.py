"""Cross-cutting core: tenancy, auth and API keys, secrets, errors, audit, settings, pagination."""
