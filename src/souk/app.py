"""The ASGI application: API, webhooks, inbox pages and operations endpoints in one FastAPI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from souk import __version__
from souk.agent import api as agent_api
from souk.automation import api as routing_api
from souk.automation import reports_api, rules_api, tools_api, webhooks_api
from souk.bus.client import Bus
from souk.channels import api as channels_api
from souk.channels import history_api, waha_api, webhooks
from souk.channels.webhooks import ChannelCache, ErrorNotes, WebhookIngress
from souk.commerce import api as commerce_api
from souk.commerce.import_jobs import ImportRunner
from souk.core import api as core_api
from souk.core import live, openapi, ops
from souk.core.errors import install_error_handlers
from souk.core.limits import BodyLimitMiddleware
from souk.core.observability import RequestContextMiddleware, configure_logging
from souk.core.ratelimit import KeyLimiter
from souk.core.secrets import install_keyring, load_keys
from souk.crm import api as crm_api
from souk.db.engine import Database
from souk.messaging import api as messaging_api
from souk.messaging import media_api, outbound_api
from souk.messaging.intake import IntakeWriter
from souk.settings import Settings, load_settings
from souk.web import pages
from souk.worker import Worker, WorkerContext
from souk.workflows.client import TemporalGateway

DESCRIPTION = """
Souk connects every chat channel of a business (WhatsApp Cloud API and WAHA, Telegram, Messenger, Instagram,
TikTok, Chotot) to one inbox, with customers, orders, a catalog, a knowledge base and an AI sales agent.

Authenticate with an API key in `X-API-Key` (or `Authorization: Bearer <key>`). Create one with
`souk api-keys create --tenant demo`. Errors are RFC 9457 `application/problem+json`; validation errors list each
field in `errors[]`. Lists take `page` and `limit` and return `items`, `total`, `page`, `limit`.
"""


class SoukApp(FastAPI):
    """FastAPI with the webhook receivers served in front of it.

    ``POST``/``GET /webhooks/{channel_type}/{channel_id}`` is the hottest path and the one with the fewest needs,
    so :class:`~souk.channels.webhooks.WebhookIngress` answers it straight from ASGI once the application has
    started; everything else (and any other ``/webhooks`` path) goes through FastAPI as usual.
    See docs/decisions/0012-lean-webhook-ingest.md.
    """

    webhook_ingress: WebhookIngress | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ingress = self.webhook_ingress
        if ingress is not None and scope["type"] == "http" and scope["path"].startswith("/webhooks/"):
            target = ingress.match(scope)
            if target is not None:
                scope["app"] = self
                await ingress(scope, receive, send, *target)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_json)
    install_keyring(
        load_keys(settings.secret_key.get_secret_value() if settings.secret_key else None, settings.data_dir)
    )

    @asynccontextmanager
    async def lifespan(app: SoukApp) -> AsyncIterator[None]:
        db = Database(settings.effective_database_url)
        bus = Bus(settings.nats_url or "nats://127.0.0.1:4222", replicas=settings.nats_replicas)
        app.state.db, app.state.bus = db, bus
        app.state.temporal = TemporalGateway(settings.temporal_address or "127.0.0.1:7233", settings.temporal_namespace)
        app.state.http = httpx.AsyncClient(
            timeout=httpx.Timeout(15.0, connect=5.0), headers={"User-Agent": f"Souk/{__version__}"}
        )
        app.state.outbox_wake = asyncio.Event()
        app.state.channel_cache = ChannelCache(db)
        app.state.webhook_errors = ErrorNotes(db)
        app.state.intake = IntakeWriter(db, bus)
        app.state.imports = ImportRunner(db)
        app.webhook_ingress = WebhookIngress(app.state, settings.max_body_bytes)
        connecting = await bus.connect_in_background()
        worker = Worker(WorkerContext(settings, db, bus, app.state.outbox_wake))
        # an API process always publishes its own domain events; `souk run` also runs the whole worker in-process
        await worker.start(only=None if settings.run_worker_in_process else {"outbox"})
        app.state.worker = worker
        try:
            yield
        finally:
            app.webhook_ingress = None
            await app.state.intake.stop()
            await app.state.imports.stop()
            await worker.stop()
            connecting.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await connecting
            await bus.close()
            await app.state.http.aclose()
            await db.dispose()

    app = SoukApp(
        title="Souk API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.key_limiter = KeyLimiter(settings.api_rate_limit_per_minute, settings.api_rate_limit_burst)
    install_error_handlers(app)
    openapi.install(app)
    app.include_router(ops.router)
    app.include_router(core_api.router)
    app.include_router(channels_api.build_router())
    app.include_router(channels_api.types_router)
    app.include_router(waha_api.router)
    app.include_router(history_api.router)
    app.include_router(webhooks.router)
    app.include_router(messaging_api.router)
    app.include_router(crm_api.router)
    app.include_router(media_api.router)
    app.include_router(outbound_api.router)
    app.include_router(commerce_api.router)
    app.include_router(agent_api.router)
    app.include_router(live.router)
    app.include_router(routing_api.router)
    app.include_router(tools_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(rules_api.router)
    app.include_router(reports_api.router)
    app.include_router(pages.router)
    pages.mount_static(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
