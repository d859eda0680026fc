"""The web inbox: server-rendered pages, static assets and live updates."""
