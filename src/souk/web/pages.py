"""Inbox pages. Server-rendered shells (Jinja2) whose scripts call the same JSON API as everyone else: a page holds
no data the API would not give the same user."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from souk import __version__
from souk.core import service
from souk.core.auth import resolve_principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

#: The top navigation: (path, label).
NAV = [
    ("/inbox", "Inbox"),
    ("/customers", "Customers"),
    ("/products", "Products"),
    ("/orders", "Orders"),
    ("/knowledge-base", "Knowledge base"),
    ("/reports", "Reports"),
    ("/settings/channels", "Settings"),
]


@dataclass(frozen=True)
class Page:
    """One page: its title, its script (``static/pages/<script>.js``) and the nav entry it belongs to."""

    title: str
    script: str
    nav: str
    sections: tuple[tuple[str, str], ...] = ()
    stylesheet: str = ""


SETTINGS = (
    ("/settings/channels", "Channels"),
    ("/settings/pipelines", "Pipelines"),
    ("/settings/teams", "Teams"),
    ("/settings/canned-responses", "Canned responses"),
    ("/settings/automation-rules", "Automation rules"),
    ("/settings/webhooks", "Webhooks"),
    ("/settings/ai-agent", "AI agent"),
    ("/settings/api-keys", "API keys"),
    ("/settings/users", "Users"),
)

#: Settings pages whose stylesheet is ``settings.css``; the others use ``admin.css``.
CHANNEL_SETTINGS = {"/settings/channels", "/settings/pipelines", "/settings/teams"}

PAGES: dict[str, Page] = {
    "/customers": Page("Customers", "customers", "/customers", stylesheet="commerce"),
    "/products": Page("Products", "products", "/products", stylesheet="commerce"),
    "/orders": Page("Orders", "orders", "/orders", stylesheet="commerce"),
    "/knowledge-base": Page("Knowledge base", "knowledge-base", "/knowledge-base", stylesheet="commerce"),
    "/reports": Page("Reports", "reports", "/reports", stylesheet="commerce"),
    **{
        path: Page(
            label,
            "settings-" + path.rsplit("/", 1)[1],
            "/settings/channels",
            SETTINGS,
            "settings" if path in CHANNEL_SETTINGS else "admin",
        )
        for path, label in SETTINGS
    },
}


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


@router.get("/")
async def root(request: Request) -> Response:
    principal = await _principal_or_none(request)
    return RedirectResponse("/inbox" if principal else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"version": __version__, "me": None})


@router.get("/invite/{token}", response_class=HTMLResponse)
async def invite_page(request: Request, token: str) -> Response:
    """An invitation link: the form to join, or why the link no longer works."""
    async with request.app.state.db.system_read_session() as session:
        found = await service.find_invite(session, token)
    invite, tenant = found if found else (None, None)
    context = {
        "version": __version__,
        "me": None,
        "invite": invite,
        "tenant": tenant,
        "problem": service.invite_unusable_reason(invite),
    }
    response = templates.TemplateResponse(
        request, "invite.html", context, status_code=410 if context["problem"] else 200
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request) -> Response:
    return await _render(request, "inbox.html", {"active": "/inbox"})


async def page(request: Request) -> Response:
    spec = PAGES[request.url.path]
    context = {
        "title": spec.title,
        "page": spec.script,
        "active": spec.nav,
        "sections": spec.sections,
        "stylesheet": spec.stylesheet,
    }
    return await _render(request, "page.html", context)


for _path in PAGES:
    router.add_api_route(_path, page, methods=["GET"], response_class=HTMLResponse)


async def _render(request: Request, template: str, context: dict) -> Response:
    principal = await _principal_or_none(request)
    if principal is None or principal.actor_type != "user":
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    context = {"me": principal, "nav": NAV, "version": __version__, **context}
    return templates.TemplateResponse(request, template, context)


async def _principal_or_none(request: Request):
    try:
        return await resolve_principal(request)
    except Exception:
        return None
