"""One package per messaging platform. Platforms know nothing of the database: they verify and parse webhook bytes
into the canonical events of :mod:`souk.platforms.base`, and turn typed commands into HTTP calls."""
