"""Tenancy services: tenants, projects, users, API keys, login and app settings.

Services take a session and plain values; they never commit (the request or the CLI command does).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from souk.core.errors import Conflict, Gone, NotFound, TooManyRequests, Unauthorized, field_error
from souk.core.models import ApiKey, AppSetting, Invite, LoginAttempt, Project, Role, Tenant, User, WebSession
from souk.core.security import hash_password, new_api_key, new_token, sha256_hex, verify_password
from souk.db.scoping import TENANT_KEY
from souk.db.types import utcnow


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}: create it with `souk demo` or `souk tenants create`")
    return tenant


async def create_tenant(session: AsyncSession, slug: str, name: str) -> Tenant:
    """A tenant and its default project (a system session is needed: the tenant does not exist yet)."""
    if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict(f"tenant {slug!r} already exists")
    tenant = Tenant(id=uuid.uuid4(), slug=slug, name=name)
    session.add(tenant)
    await session.flush()
    session.add(Project(tenant_id=tenant.id, name="Default", is_default=True))
    await session.flush()
    return tenant


async def default_project(session: AsyncSession, tenant_id: uuid.UUID) -> Project:
    project = await session.scalar(
        select(Project).where(Project.tenant_id == tenant_id).order_by(Project.is_default.desc(), Project.created_at)
    )
    if project is None:
        raise NotFound("the tenant has no project")
    return project


async def get_user_by_email(session: AsyncSession, tenant_id: uuid.UUID, email: str) -> User | None:
    return await session.scalar(select(User).where(User.tenant_id == tenant_id, User.email == email.strip().lower()))


async def create_user(
    session: AsyncSession, tenant_id: uuid.UUID, email: str, password: str | None, role: Role, name: str = ""
) -> User:
    email = email.strip().lower()
    if await get_user_by_email(session, tenant_id, email):
        raise Conflict(f"a user {email} already exists in this tenant")
    user = User(
        tenant_id=tenant_id,
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.flush()
    return user


async def create_api_key(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    name: str,
    *,
    role: Role = Role.admin,
    expires_at: datetime | None = None,
    created_by: uuid.UUID | None = None,
) -> tuple[ApiKey, str]:
    """A new key row and the key itself, which exists nowhere else after this call returns."""
    key, prefix, digest = new_api_key()
    row = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=prefix,
        key_hash=digest,
        role=role,
        expires_at=expires_at,
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return row, key


async def revoke_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("no such API key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


# -- invitations -----------------------------------------------------------------------------------------------------

INVITE_TTL = timedelta(days=7)


def invite_is_pending(invite: Invite, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return invite.accepted_at is None and invite.revoked_at is None and invite.expires_at > now


async def create_invite(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    email: str,
    role: Role,
    *,
    invited_by: uuid.UUID | None = None,
    invited_by_label: str = "",
    ttl: timedelta = INVITE_TTL,
) -> tuple[Invite, str]:
    """A new invitation and its token, which exists nowhere else after this call returns.

    Inviting an email again revokes its earlier pending invitations: only the newest link works.
    """
    email = email.strip().lower()
    if await get_user_by_email(session, tenant_id, email):
        raise Conflict(
            f"{email} is already a user of this tenant", errors=[field_error("email", "already a user here")]
        )
    now = utcnow()
    await session.execute(
        update(Invite)
        .where(
            Invite.tenant_id == tenant_id,
            Invite.email == email,
            Invite.accepted_at.is_(None),
            Invite.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = new_token()
    invite = Invite(
        tenant_id=tenant_id,
        email=email,
        role=role,
        token_hash=sha256_hex(token),
        invited_by=invited_by,
        invited_by_label=invited_by_label,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    await session.flush()
    return invite, token


async def revoke_invite(session: AsyncSession, invite_id: uuid.UUID) -> Invite:
    invite = await session.get(Invite, invite_id)
    if invite is None:
        raise NotFound("no such invitation")
    if invite.accepted_at is not None:
        raise Conflict("the invitation was already accepted; deactivate the user instead")
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()
    return invite


async def find_invite(session: AsyncSession, token: str) -> tuple[Invite, Tenant] | None:
    """The invitation a link's token names, and its tenant (a system session: the visitor has no tenant yet)."""
    row = (
        await session.execute(
            select(Invite, Tenant)
            .join(Tenant, Tenant.id == Invite.tenant_id)
            .where(Invite.token_hash == sha256_hex(token))
        )
    ).first()
    return (row[0], row[1]) if row else None


def invite_unusable_reason(invite: Invite | None, now: datetime | None = None) -> str | None:
    """Why a link cannot be used any more, in words for the person holding it; None when it can."""
    now = now or utcnow()
    if invite is None:
        return "This invitation link is not valid. Ask the person who invited you for a new one."
    if invite.accepted_at is not None:
        return "This invitation was already used. Log in with the email and password you chose."
    if invite.revoked_at is not None:
        return "This invitation was withdrawn. Ask the person who invited you for a new one."
    if invite.expires_at <= now:
        return "This invitation has expired. Ask the person who invited you for a new one."
    return None


async def accept_invite(
    session: AsyncSession,
    token: str,
    *,
    name: str,
    password: str,
    ip: str,
    user_agent: str | None,
    max_age: int,
) -> tuple[User, Invite, str]:
    """Create the invited user with the invitation's role, mark it used and open a web session.

    Runs in a system session. The invitation is claimed with a conditional update, so two tabs accepting the
    same link at once create one user: the second finds it already used.
    """
    found = await find_invite(session, token)
    invite = found[0] if found else None
    reason = invite_unusable_reason(invite)
    if reason or invite is None:
        raise Gone(reason or "invalid invitation")
    now = utcnow()
    claimed = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.accepted_at.is_(None), Invite.revoked_at.is_(None))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise Gone("This invitation was already used. Log in with the email and password you chose.")
    if await get_user_by_email(session, invite.tenant_id, invite.email):
        raise Conflict(f"{invite.email} is already a user of this tenant; log in instead")
    user = await create_user(session, invite.tenant_id, invite.email, password, Role(invite.role), name)
    await session.refresh(invite)
    invite.accepted_user_id = user.id
    return user, invite, open_web_session(session, user, ip=ip, user_agent=user_agent, max_age=max_age)


# -- login ---------------------------------------------------------------------------------------------------------


async def check_login_allowed(session: AsyncSession, email: str, ip: str, max_failures: int, window: int) -> None:
    since = utcnow() - timedelta(seconds=window)
    by_email = await session.scalar(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.email == email, LoginAttempt.at > since)
    )
    by_ip = await session.scalar(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.ip == ip, LoginAttempt.at > since)
    )
    # an IP may try a few accounts (an office behind one NAT), but not hammer forever
    if (by_email or 0) >= max_failures or (by_ip or 0) >= max_failures * 4:
        raise TooManyRequests(
            f"too many failed logins; try again in {window // 60} minutes",
            headers={"Retry-After": str(window)},
        )


async def login(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    ip: str,
    user_agent: str | None,
    max_age: int,
    max_failures: int,
    window: int,
    tenant_slug: str | None = None,
) -> tuple[User, str]:
    """Check the password and open a web session; returns the user and the cookie token.

    Runs in a system session (the tenant is not known before the login). The caller records a failure with
    :func:`record_failed_login` in its own transaction, so the lockout holds across processes.
    """
    email = email.strip().lower()
    await check_login_allowed(session, email, ip, max_failures, window)
    stmt = select(User).where(User.email == email, User.is_active.is_(True))
    if tenant_slug:
        stmt = stmt.join(Tenant, Tenant.id == User.tenant_id).where(Tenant.slug == tenant_slug)
    users = (await session.scalars(stmt)).all()
    user = next((u for u in users if verify_password(password, u.password_hash)), None)
    if not users:
        verify_password(password, None)
    if user is None:
        raise Unauthorized("wrong email or password")
    await session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
    return user, open_web_session(session, user, ip=ip, user_agent=user_agent, max_age=max_age)


def open_web_session(session: AsyncSession, user: User, *, ip: str, user_agent: str | None, max_age: int) -> str:
    """A new browser session for ``user``; returns the cookie token (only its hash is stored)."""
    token = new_token()
    session.add(
        WebSession(
            tenant_id=user.tenant_id,
            token_hash=sha256_hex(token),
            user_id=user.id,
            expires_at=utcnow() + timedelta(seconds=max_age),
            ip=ip,
            user_agent=(user_agent or "")[:300],
        )
    )
    user.last_login_at = utcnow()
    return token


async def record_failed_login(session: AsyncSession, email: str, ip: str) -> None:
    session.add(LoginAttempt(email=email.strip().lower(), ip=ip))


async def logout(session: AsyncSession, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == sha256_hex(token)))


# -- app settings ----------------------------------------------------------------------------------------------------


def setting_value(row: AppSetting) -> str | None:
    return row.secret_value if row.is_sensitive else row.value


async def get_setting(session: AsyncSession, key: str) -> AppSetting | None:
    return await session.scalar(select(AppSetting).where(AppSetting.key == key))


async def setting(session: AsyncSession, key: str, default: str | None = None) -> str | None:
    """The clear value of a tenant setting (decrypted when sensitive), for services that need it."""
    row = await get_setting(session, key)
    return setting_value(row) if row else default


#: setting names that hold credentials (seed 001 marks ``gemini_api_key`` sensitive; the agent reads it as its key)
SECRET_SUFFIXES = ("_api_key", "_token", "_secret", "_password")


def names_a_secret(key: str) -> bool:
    return key.lower().endswith(SECRET_SUFFIXES)


async def put_setting(
    session: AsyncSession,
    key: str,
    value: str | None,
    *,
    category: str | None = None,
    is_sensitive: bool = False,
    description: str | None = None,
    updated_by: str = "admin",
) -> tuple[AppSetting, dict[str, Any] | None]:
    """Create or replace a setting; returns the row and its state before (for the audit log). A key that names a
    secret (``gemini_api_key``, ``*_token``…) is stored encrypted even when the caller did not say it is sensitive."""
    is_sensitive = is_sensitive or names_a_secret(key)
    row = await get_setting(session, key)
    before = None
    if row is None:
        row = AppSetting(key=key)
        session.add(row)
    else:
        before = {
            "value": row.value if not row.is_sensitive else "…",
            "category": row.category,
            "is_sensitive": row.is_sensitive,
            "description": row.description,
        }
    row.is_sensitive = is_sensitive
    row.value = None if is_sensitive else value
    row.secret_value = value if is_sensitive else None
    row.category = category
    row.description = description
    row.updated_by = updated_by
    row.updated_at = utcnow()
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"setting {key!r} was written concurrently; retry") from exc
    return row, before


def tenant_of(session: AsyncSession) -> uuid.UUID:
    return session.info[TENANT_KEY]
