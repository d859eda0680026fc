"""The demo tenant `make run` shows: a tenant "demo", its project, an owner, an API key, the demo shop (catalog
and knowledge base) and a living inbox (demo customers with conversations on every simulated platform,
``souk.simulate.seed``), created once.

The demo login and key are kept in ``<data_dir>/demo-credentials.json`` (mode 0600) so every `make run` can print
them again; the database itself only holds the password's argon2 hash and the key's SHA-256.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select

from souk.core import service
from souk.core.models import Role, Tenant
from souk.db.engine import Database

DEMO_SLUG = "demo"
DEMO_EMAIL = "owner@demo.souk.local"
CREDENTIALS = "demo-credentials.json"


def credentials_path(data_dir: Path) -> Path:
    return data_dir / CREDENTIALS


async def ensure_demo(db: Database, data_dir: Path) -> dict[str, Any]:
    """Create the demo tenant if missing, and load what it lacks of the demo; return its credentials. Idempotent."""
    path = credentials_path(data_dir)
    async with db.system_session() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        tenant_id = tenant.id if tenant is not None else None
    if tenant_id is not None and path.exists():
        await _load(db, tenant_id)  # a data directory from before the demo inbox existed gets it too
        return json.loads(path.read_text())
    async with db.system_session() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        if tenant is None:
            tenant = await service.create_tenant(session, DEMO_SLUG, "Demo Shop")
        tenant_id = tenant.id
        session.info["tenant_id"] = tenant_id
        password = secrets.token_urlsafe(9)
        user = await service.get_user_by_email(session, tenant.id, DEMO_EMAIL)
        if user is None:
            user = await service.create_user(session, tenant.id, DEMO_EMAIL, password, Role.owner, "Demo Owner")
        else:
            user.password_hash = service.hash_password(password)
        _, key = await service.create_api_key(session, tenant.id, "demo", role=Role.owner, created_by=user.id)
    await _load(db, tenant_id)
    creds = {"tenant": DEMO_SLUG, "email": DEMO_EMAIL, "password": password, "api_key": key}
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh, indent=2)
    return creds


async def _load(db: Database, tenant_id: Any) -> None:
    """The demo shop and the demo inbox, each loaded only into a tenant that has none yet."""
    # the shop is commerce's, the inbox the simulator's; the tenant is core's
    from souk.commerce.demo import load_demo_shop
    from souk.simulate.seed import load_demo_inbox

    async with db.tenant_session(tenant_id) as session:
        await load_demo_shop(session, tenant_id)
        await load_demo_inbox(session, tenant_id)
