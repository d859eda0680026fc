"""What a platform plugin provides, and the seed-002 ``Vendor`` interface its client implements.

A plugin is an instance of a :class:`Platform` subclass, exported as ``PLATFORM`` by its package and found by
:mod:`souk.platforms.registry` (built-ins, plus third-party packages through the ``souk.platforms`` entry point).
Plugins never touch the database: they get a channel's config and secrets as plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel

from souk.platforms.base import Event, ParseError, body_key


@dataclass
class ChannelInfo:
    """What the platform says about the account behind a channel (seed 002's ``GetChannelInfo``)."""

    external_id: str
    name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SendResult:
    external_id: str | None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class VendorMessage:
    external_id: str
    sender_id: str
    text: str | None
    timestamp: datetime
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class VendorProduct:
    external_id: str
    name: str
    price: str | None = None
    currency: str | None = None
    url: str | None = None
    image: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class PlatformError(Exception):
    """The platform refused a call. ``retryable`` says whether trying later may work (429, 5xx, network)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


@runtime_checkable
class Vendor(Protocol):
    """Seed 002's Vendor interface, in Python."""

    vendor_type: str

    async def list_messages(self, channel_id: str, limit: int, before_ts: datetime | None) -> list[VendorMessage]: ...

    async def send_message(self, channel_id: str, recipient: str, content: dict[str, Any]) -> SendResult: ...

    async def get_channel_info(self, channel_id: str) -> ChannelInfo: ...

    async def get_user_products(self, user_id: str, limit: int, page: int) -> list[VendorProduct]: ...


class VendorClient:
    """Base client: one per channel, over a shared ``httpx.AsyncClient``. Subclasses override what they support."""

    vendor_type: ClassVar[str] = ""

    def __init__(self, config: Mapping[str, Any], secrets: Mapping[str, Any], http: httpx.AsyncClient) -> None:
        self.config = dict(config)
        self.secrets = dict(secrets)
        self.http = http

    async def get_channel_info(self, channel_id: str = "") -> ChannelInfo:
        """Check the credentials against the platform (``test-connection``)."""
        raise NotImplementedError

    async def send_message(self, channel_id: str, recipient: str, content: dict[str, Any]) -> SendResult:
        raise NotImplementedError

    async def list_messages(self, channel_id: str, limit: int, before_ts: datetime | None) -> list[VendorMessage]:
        raise NotImplementedError(f"{self.vendor_type} gives no message history")

    async def get_user_products(self, user_id: str, limit: int, page: int) -> list[VendorProduct]:
        raise NotImplementedError(f"{self.vendor_type} has no product listing")

    async def send_typing(self, recipient: str, *, message_id: str | None = None) -> bool:
        """Show "typing…" to ``recipient`` while a reply is prepared (``message_id``: the message being answered,
        which WhatsApp needs). Returns False where the platform has no typing indicator."""
        return False

    async def configure_webhook(self, url: str, secret: str) -> dict[str, Any]:
        """Register ``url`` with the platform where it allows; returns what the platform answered."""
        raise NotImplementedError

    async def delete_webhook(self, url: str | None = None) -> None:
        """Remove the webhook Souk registered at ``url`` (only Souk's: the platform may serve others)."""
        raise NotImplementedError


class Platform:
    """A messaging platform. Subclasses set the class attributes and implement verify/parse/client."""

    channel_type: ClassVar[str]
    vendor_type: ClassVar[str] = ""  # defaults to channel_type
    display_name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    #: config keys (as spelled in the seed) that are credentials: stored encrypted, returned masked
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    #: activation needs a configured webhook (seed 004 invariant); False for platforms that push elsewhere
    needs_webhook: ClassVar[bool] = True
    #: inbound arrives on webhooks; False for platforms that deliver on the broker (``broker_subject``) instead
    receives_webhooks: ClassVar[bool] = True
    #: the platform registers the webhook URL itself through its API (Telegram, WAHA); Meta's is pasted by hand
    can_register_webhook: ClassVar[bool] = False
    has_handshake: ClassVar[bool] = False
    requires_partner_credentials: ClassVar[bool] = False
    #: the platform's API gives past messages, so ``import-history`` can bring them in (WAHA, Messenger, Instagram)
    history_import: ClassVar[bool] = False
    #: why not, when it cannot (answered by ``import-history``); a generic sentence when unset
    no_history_reason: ClassVar[str | None] = None
    client_class: ClassVar[type[VendorClient]] = VendorClient

    @property
    def vendor(self) -> str:
        return self.vendor_type or self.channel_type

    def broker_subject(self, channel_id: object) -> str | None:
        """Where a channel's inbound arrives when not on webhooks (seed 002's inbound flow): ``vendors.<vendor>.<id>``,
        the subjects ``souk.messaging.vendor_inbound`` reads."""
        return None if self.receives_webhooks else f"vendors.{self.vendor}.{channel_id}"

    def no_history_message(self) -> str:
        return self.no_history_reason or (
            f"{self.display_name} gives no message history to import: new messages arrive live through the webhook."
        )

    def verify(
        self,
        *,
        config: Mapping[str, Any],
        secrets: Mapping[str, Any],
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> None:
        """Raise :class:`~souk.platforms.base.SignatureError` unless the raw bytes come from the platform."""
        raise NotImplementedError

    def handshake(self, *, config: Mapping[str, Any], secrets: Mapping[str, Any], query: Mapping[str, str]) -> str:
        """Answer a GET verification (Meta): return the body to send, or raise ``HandshakeError``."""
        raise NotImplementedError

    def event_key(self, body: bytes, headers: Mapping[str, str]) -> str:
        """A cheap de-duplication key for the whole delivery, computed before parsing."""
        return body_key(body)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        raise NotImplementedError

    def events(self, body: bytes, headers: Mapping[str, str]) -> list[Event]:
        """:meth:`parse`, with one contract for the pipeline: events, or ``ParseError`` saying why not.

        A payload whose shape differs from the documented one (a list where an object was, a missing key) makes a
        parser fail in many ways; each becomes a ``ParseError`` naming it, so the delivery is stored as ``failed``
        with that reason and can be replayed once the parser handles the shape.
        """
        try:
            events = self.parse(body, headers)
        except ParseError:
            raise
        except (TypeError, KeyError, IndexError, AttributeError, ValueError, OverflowError) as exc:
            raise ParseError(f"the payload does not have the documented shape ({type(exc).__name__}: {exc})") from exc
        odd = next((ev for ev in events if ev.key is not None and not isinstance(ev.key, str)), None)
        if odd is not None:
            raise ParseError(f"an id in the payload is not a string: {odd.key!r}")
        return events

    def client(self, config: Mapping[str, Any], secrets: Mapping[str, Any], http: httpx.AsyncClient) -> VendorClient:
        return self.client_class(config, secrets, http)
