"""A small Graph API caller shared by the Meta clients, mapping Graph error objects to :class:`PlatformError`.

Graph errors look like ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id",
"is_transient"}}``. Whether a failure is worth retrying depends on the code more than on the HTTP status
(WhatsApp rate limits come back as HTTP 400 with code 130429), so both are consulted.
"""

from __future__ import annotations

from typing import Any

import httpx

from souk.platforms.plugin import PlatformError

DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"

#: Graph error codes that mean "try again later" (throttling, temporary failures), from protocols.md §1.8
#: and §4.6: 4 app call limit, 80007 WABA rate limit, 130429 throughput, 131056 pair rate limit, 131057
#: throughput upgrade in progress, 613 call rate limit, 1200 temporary send failure, 2 temporarily down.
RETRYABLE_CODES = frozenset({"2", "4", "613", "1200", "80007", "130429", "131056", "131057"})


class GraphError(PlatformError):
    """A Graph API error, keeping what callers branch on (e.g. 10/2018278: outside the messaging window)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        code: str | None,
        retryable: bool,
        retry_after: float | None = None,
        subcode: str | None = None,
        error_type: str | None = None,
        fbtrace_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, retryable=retryable, retry_after=retry_after)
        self.subcode = subcode
        self.error_type = error_type
        self.fbtrace_id = fbtrace_id


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from Meta; the caller's back-off applies


def graph_error(status: int, body: Any, headers: httpx.Headers | None = None) -> GraphError:
    """The :class:`GraphError` for a failed response; ``body`` is its parsed JSON (None when not JSON)."""
    headers = headers or httpx.Headers()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = str(error.get("message") or f"Graph API answered HTTP {status}")
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    if details and details not in message:
        message = f"{message}: {details}"
    if subcode is not None:
        message = f"{message} (subcode {subcode})"
    retryable = status == 429 or status >= 500 or bool(error.get("is_transient")) or str(code) in RETRYABLE_CODES
    return GraphError(
        message,
        status=status,
        code=str(code) if code is not None else None,
        retryable=retryable,
        retry_after=_retry_after(headers),
        subcode=str(subcode) if subcode is not None else None,
        error_type=error.get("type"),
        fbtrace_id=error.get("fbtrace_id"),
    )


class GraphAPI:
    """Calls ``{base_url}/{version}/…`` with a bearer token; every failure is a :class:`PlatformError`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: str | None,
        token_key: str,
        base_url: str | None = None,
        version: str | None = None,
    ) -> None:
        if not token:
            raise PlatformError(f"{token_key} is not configured", code="not_configured")
        self.http = http
        self.token = token
        self.base = f"{(base_url or DEFAULT_GRAPH_BASE_URL).rstrip('/')}/{version or DEFAULT_API_VERSION}"

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return await self.request("POST", path, **kwargs)

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call; ``path`` is relative to the versioned base (``"123/messages"``) or an absolute URL."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base}/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            response = await self.http.request(method, url, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise PlatformError(f"Graph API unreachable: {exc!r}", retryable=True) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        # Graph occasionally answers 200 with an error object; treat it as the error it is.
        if response.is_error or (isinstance(body, dict) and "error" in body):
            raise graph_error(response.status_code, body, response.headers)
        if not isinstance(body, dict):
            raise PlatformError(
                f"Graph API answered HTTP {response.status_code} without a JSON object",
                status=response.status_code,
                retryable=response.status_code >= 500,
            )
        return body
