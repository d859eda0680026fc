"""Core REST API: login, the caller, users, projects, API keys, app settings and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from souk.core import audit, service
from souk.core.auth import SESSION_COOKIE, Ctx, admin, agent
from souk.core.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, field_error
from souk.core.models import ApiKey, AppSetting, AuditLog, Invite, Project, Role, Tenant, User
from souk.core.pagination import Page, PageParams, page_params, paginate
from souk.core.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditOut,
    InviteAccept,
    InviteCreate,
    InviteCreated,
    InviteOut,
    LoginIn,
    MeOut,
    ProjectCreate,
    ProjectOut,
    SettingIn,
    SettingOut,
    UserCreate,
    UserOut,
    UserPatch,
)
from souk.core.secrets import mask
from souk.db.types import utcnow

router = APIRouter(prefix="/api/v1")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/login", tags=["auth"], summary="Log in and get a session cookie", response_model=UserOut)
async def login(body: LoginIn, request: Request, response: Response) -> User:
    settings = request.app.state.settings
    db = request.app.state.db
    ip = client_ip(request)
    try:
        async with db.system_session() as session:
            user, token = await service.login(
                session,
                body.email,
                body.password,
                ip=ip,
                user_agent=request.headers.get("user-agent"),
                max_age=settings.session_max_age_seconds,
                max_failures=settings.login_max_failures,
                window=settings.login_window_seconds,
                tenant_slug=body.tenant,
            )
    except Unauthorized:
        async with db.system_session() as session:
            await service.record_failed_login(session, body.email, ip)
        raise
    set_session_cookie(response, settings, token)
    return user


def set_session_cookie(response: Response, settings, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
        path="/",
    )


@router.post("/auth/logout", tags=["auth"], summary="End the web session", status_code=204)
async def logout(request: Request, response: Response) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with request.app.state.db.system_session() as session:
            await service.logout(session, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/auth/me", tags=["auth"], summary="Who is calling", response_model=MeOut)
async def me(ctx: Ctx = Depends(agent)) -> MeOut:
    tenant = await ctx.session.get(Tenant, ctx.tenant_id)
    user = await ctx.session.get(User, ctx.principal.user_id) if ctx.principal.user_id else None
    assert tenant is not None
    return MeOut(
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        role=ctx.principal.role,
        actor_type=ctx.principal.actor_type,
        label=ctx.principal.label,
        user=UserOut.model_validate(user) if user else None,
    )


# -- users -----------------------------------------------------------------------------------------------------------


@router.get("/users", tags=["users"], summary="List the tenant's users", response_model=Page[UserOut])
async def list_users(ctx: Ctx = Depends(admin), params: PageParams = Depends(page_params)) -> dict:
    items, total = await paginate(ctx.session, select(User).order_by(User.created_at), params)
    return {"items": items, "total": total, "page": params.page, "limit": params.limit}


@router.post("/users", tags=["users"], summary="Create a user", status_code=201, response_model=UserOut)
async def create_user(body: UserCreate, ctx: Ctx = Depends(admin)) -> User:
    if body.role != Role.agent and ctx.principal.role != Role.owner:
        raise Forbidden("only an owner can create admins or owners")
    user = await service.create_user(ctx.session, ctx.tenant_id, body.email, body.password, body.role, body.name)
    audit.record(ctx, "user.created", "user", user.id, after={"email": user.email, "role": user.role})
    return user


@router.patch(
    "/users/{user_id}",
    tags=["users"],
    summary="Change a user's name, role, password or status",
    response_model=UserOut,
)
async def patch_user(user_id: uuid.UUID, body: UserPatch, ctx: Ctx = Depends(admin)) -> User:
    user = await ctx.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if (body.role is not None or user.role == Role.owner) and ctx.principal.role != Role.owner:
        raise Forbidden("only an owner can change roles or edit an owner")
    before = {"name": user.name, "role": user.role, "is_active": user.is_active}
    if body.name is not None:
        user.name = body.name
    if body.role is not None:
        user.role = body.role
    if body.is_active is not None:
        user.is_active = body.is_active
    if body.password is not None:
        user.password_hash = service.hash_password(body.password)
    audit.record(
        ctx,
        "user.updated",
        "user",
        user.id,
        before=before,
        after={
            "name": user.name,
            "role": user.role,
            "is_active": user.is_active,
            "password_changed": body.password is not None,
        },
    )
    return user


# -- invitations -----------------------------------------------------------------------------------------------------


def _may_grant(ctx: Ctx, role: Role) -> None:
    if role != Role.agent and ctx.principal.role != Role.owner:
        raise Forbidden("only an owner can invite or revoke admins and owners")


@router.post(
    "/invites",
    tags=["users"],
    summary="Invite a person by email with a role (the link is shown once)",
    status_code=201,
    response_model=InviteCreated,
    responses={409: {"description": "The email is already a user of this tenant"}},
)
async def create_invite(body: InviteCreate, request: Request, ctx: Ctx = Depends(admin)) -> InviteCreated:
    _may_grant(ctx, body.role)
    invite, token = await service.create_invite(
        ctx.session,
        ctx.tenant_id,
        body.email,
        body.role,
        invited_by=ctx.principal.user_id,
        invited_by_label=ctx.principal.label,
    )
    audit.record(ctx, "invite.created", "invite", invite.id, after={"email": invite.email, "role": invite.role})
    path = f"/invite/{token}"
    base = request.app.state.settings.base_url.rstrip("/")
    return InviteCreated.model_validate(
        {**InviteOut.model_validate(invite).model_dump(), "url": base + path, "path": path}
    )


@router.get(
    "/invites",
    tags=["users"],
    summary="Pending invitations (not used, withdrawn or expired); never their links",
    response_model=Page[InviteOut],
)
async def list_invites(ctx: Ctx = Depends(admin), params: PageParams = Depends(page_params)) -> dict:
    stmt = (
        select(Invite)
        .where(Invite.accepted_at.is_(None), Invite.revoked_at.is_(None), Invite.expires_at > utcnow())
        .order_by(Invite.created_at.desc())
    )
    items, total = await paginate(ctx.session, stmt, params)
    return {"items": items, "total": total, "page": params.page, "limit": params.limit}


@router.delete("/invites/{invite_id}", tags=["users"], summary="Withdraw an invitation", status_code=204)
async def revoke_invite(invite_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> Response:
    invite = await ctx.session.get(Invite, invite_id)
    if invite is None:
        raise NotFound("no such invitation")
    _may_grant(ctx, Role(invite.role))
    await service.revoke_invite(ctx.session, invite_id)
    audit.record(ctx, "invite.revoked", "invite", invite_id, before={"email": invite.email, "role": invite.role})
    return Response(status_code=204)


@router.post(
    "/invites/accept",
    tags=["auth"],
    summary="Accept an invitation: create the user with its role and log in (no API key needed)",
    status_code=201,
    response_model=UserOut,
    responses={410: {"description": "The invitation is unknown, used, withdrawn or expired"}},
)
async def accept_invite(body: InviteAccept, request: Request, response: Response) -> User:
    settings = request.app.state.settings
    async with request.app.state.db.system_session() as session:
        user, invite, token = await service.accept_invite(
            session,
            body.token,
            name=body.name,
            password=body.password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            max_age=settings.session_max_age_seconds,
        )
        audit.record_raw(
            session,
            actor_type="user",
            actor_id=str(user.id),
            actor_label=user.email,
            action="invite.accepted",
            entity_type="invite",
            entity_id=invite.id,
            after={"email": user.email, "role": user.role},
            request_id=getattr(request.state, "request_id", None),
            tenant_id=user.tenant_id,
        )
    set_session_cookie(response, settings, token)
    return user


# -- projects ----------------------------------------------------------------------------------------------------------


@router.get("/projects", tags=["projects"], summary="List projects", response_model=Page[ProjectOut])
async def list_projects(ctx: Ctx = Depends(agent), params: PageParams = Depends(page_params)) -> dict:
    items, total = await paginate(ctx.session, select(Project).order_by(Project.created_at), params)
    return {"items": items, "total": total, "page": params.page, "limit": params.limit}


@router.post("/projects", tags=["projects"], summary="Create a project", status_code=201, response_model=ProjectOut)
async def create_project(body: ProjectCreate, ctx: Ctx = Depends(admin)) -> Project:
    if await ctx.session.scalar(select(Project.id).where(Project.name == body.name)):
        raise Conflict(f"a project named {body.name!r} exists")
    project = Project(name=body.name)
    ctx.session.add(project)
    await ctx.session.flush()
    audit.record(ctx, "project.created", "project", project.id, after={"name": project.name})
    return project


# -- API keys ----------------------------------------------------------------------------------------------------------


@router.get(
    "/api-keys",
    tags=["api-keys"],
    summary="List API keys (never the keys themselves)",
    response_model=Page[ApiKeyOut],
)
async def list_keys(ctx: Ctx = Depends(admin), params: PageParams = Depends(page_params)) -> dict:
    items, total = await paginate(ctx.session, select(ApiKey).order_by(ApiKey.created_at.desc()), params)
    return {"items": items, "total": total, "page": params.page, "limit": params.limit}


@router.post(
    "/api-keys",
    tags=["api-keys"],
    summary="Create an API key (shown once)",
    status_code=201,
    response_model=ApiKeyCreated,
)
async def create_key(body: ApiKeyCreate, ctx: Ctx = Depends(admin)) -> ApiKeyCreated:
    if body.role.rank > ctx.principal.role.rank:
        raise Forbidden("a key cannot have a higher role than its creator")
    row, key = await service.create_api_key(
        ctx.session,
        ctx.tenant_id,
        body.name,
        role=body.role,
        expires_at=body.expires_at,
        created_by=ctx.principal.user_id,
    )
    audit.record(ctx, "api_key.created", "api_key", row.id, after={"name": row.name, "prefix": row.prefix})
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(row).model_dump(), "key": key})


@router.delete("/api-keys/{key_id}", tags=["api-keys"], summary="Revoke an API key", response_model=ApiKeyOut)
async def revoke_key(key_id: uuid.UUID, ctx: Ctx = Depends(admin)) -> ApiKey:
    row = await service.revoke_api_key(ctx.session, key_id)
    audit.record(ctx, "api_key.revoked", "api_key", row.id, after={"prefix": row.prefix})
    return row


# -- settings ----------------------------------------------------------------------------------------------------------


def setting_out(row: AppSetting) -> SettingOut:
    value = mask(row.secret_value) if row.is_sensitive else row.value
    return SettingOut(
        key=row.key,
        value=value,
        category=row.category,
        is_sensitive=row.is_sensitive,
        description=row.description,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


@router.get(
    "/settings",
    tags=["settings"],
    summary="List settings (sensitive values masked)",
    response_model=Page[SettingOut],
)
async def list_settings(
    ctx: Ctx = Depends(agent),
    params: PageParams = Depends(page_params),
    category: str | None = Query(None, description="Only this category."),
) -> dict:
    stmt = select(AppSetting).order_by(AppSetting.key)
    if category:
        stmt = stmt.where(AppSetting.category == category)
    items, total = await paginate(ctx.session, stmt, params)
    return {
        "items": [setting_out(r) for r in items],
        "total": total,
        "page": params.page,
        "limit": params.limit,
    }


@router.get("/settings/{key}", tags=["settings"], summary="Read one setting", response_model=SettingOut)
async def get_setting(key: str, ctx: Ctx = Depends(agent)) -> SettingOut:
    row = await service.get_setting(ctx.session, key)
    if row is None:
        raise NotFound(f"no setting {key!r}")
    return setting_out(row)


@router.put("/settings/{key}", tags=["settings"], summary="Create or replace a setting", response_model=SettingOut)
async def put_setting(key: str, body: SettingIn, ctx: Ctx = Depends(admin)) -> SettingOut:
    if not key or len(key) > 100:
        raise Unprocessable("key must be 1-100 characters", errors=[field_error("key", "1-100 characters")])
    row, before = await service.put_setting(
        ctx.session,
        key,
        body.value,
        category=body.category,
        is_sensitive=body.is_sensitive,
        description=body.description,
        updated_by=ctx.principal.label,
    )
    after = setting_out(row).model_dump(mode="json")
    audit.record(ctx, "setting.updated" if before else "setting.created", "setting", key, before=before, after=after)
    return setting_out(row)


@router.delete("/settings/{key}", tags=["settings"], summary="Delete a setting", status_code=204)
async def delete_setting(key: str, ctx: Ctx = Depends(admin)) -> Response:
    row = await service.get_setting(ctx.session, key)
    if row is None:
        raise NotFound(f"no setting {key!r}")
    await ctx.session.delete(row)
    audit.record(ctx, "setting.deleted", "setting", key, before=setting_out(row).model_dump(mode="json"))
    return Response(status_code=204)


# -- audit log ---------------------------------------------------------------------------------------------------------


@router.get("/audit-log", tags=["audit"], summary="Who did what, when", response_model=Page[AuditOut])
async def audit_log(
    ctx: Ctx = Depends(admin),
    params: PageParams = Depends(page_params),
    entity_type: str | None = Query(None, examples=["channel"]),
    entity_id: str | None = None,
    action: str | None = Query(None, examples=["channel.created"]),
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict:
    stmt = select(AuditLog).order_by(AuditLog.at.desc())
    if entity_type:
        stmt = stmt.where(AuditLog.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditLog.entity_id == entity_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if since:
        stmt = stmt.where(AuditLog.at >= since)
    if until:
        stmt = stmt.where(AuditLog.at < until)
    items, total = await paginate(ctx.session, stmt, params)
    return {"items": items, "total": total, "page": params.page, "limit": params.limit}
