"""Tenant walls in the data layer.

Every ORM statement that touches a :class:`TenantScoped` model is rewritten to filter on the session's tenant,
and new rows get the session's tenant. A session opened without a tenant refuses such statements with
:class:`UnscopedQueryError` unless it was opened as a system session (webhook routing, sweepers, migrations),
so forgetting a filter cannot leak another tenant's rows: the mistake raises instead.
"""

from __future__ import annotations

import uuid

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from souk.db.base import TenantScoped

TENANT_KEY = "tenant_id"
SYSTEM_KEY = "system"


class UnscopedQueryError(RuntimeError):
    """An ORM query on tenant data ran in a session that has no tenant and is not a system session."""


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    return any(issubclass(m.class_, TenantScoped) for m in state.all_mappers)


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("souk_system") or state.session.info.get(SYSTEM_KEY):
        return
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None:
        if _touches_tenant_data(state):
            raise UnscopedQueryError(
                "query on tenant data in a session without a tenant; use tenant_session() or system_session()"
            )
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True)
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, flush_context: object, instances: object) -> None:
    tenant_id: uuid.UUID | None = session.info.get(TENANT_KEY)
    system = session.info.get(SYSTEM_KEY)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        current = obj.tenant_id
        if current is None:
            if tenant_id is None:
                raise UnscopedQueryError(f"{type(obj).__name__} written without a tenant")
            obj.tenant_id = tenant_id
        elif tenant_id is not None and current != tenant_id and not system:
            raise UnscopedQueryError(f"{type(obj).__name__} of another tenant written in a tenant session")
