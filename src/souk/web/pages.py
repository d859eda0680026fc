"""Inbox pages. Server-rendered with Jinja2; the pages call the same JSON API as everyone else."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from souk import __version__
from souk.core.auth import resolve_principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


@router.get("/")
async def root(request: Request) -> Response:
    principal = await _principal_or_none(request)
    return RedirectResponse("/inbox" if principal else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"version": __version__})


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request) -> Response:
    principal = await _principal_or_none(request)
    if principal is None or principal.actor_type != "user":
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(request, "inbox.html", {"me": principal, "version": __version__})


async def _principal_or_none(request: Request):
    try:
        return await resolve_principal(request)
    except Exception:
        return None
