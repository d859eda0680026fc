"""Request and response shapes of the core API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from souk.core.models import Role


def _email(value: str) -> str:
    """Syntax only: shops use internal and test domains, and deliverability is checked by the invite mail."""
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value or domain.startswith(".") or domain.endswith("."):
        raise ValueError("not a valid email address (expected name@domain.tld)")
    return value


EmailStr = Annotated[str, Field(max_length=320), AfterValidator(_email)]


class Strict(BaseModel):
    """Request bodies refuse unknown fields instead of silently dropping them."""

    model_config = ConfigDict(extra="forbid")


def not_null(value: Any) -> Any:
    """For PATCH bodies, as ``_x = field_validator("a", "b")(not_null)``: fields whose columns cannot be empty may be
    left out but not sent as null (which reached the database and was a 500)."""
    if value is None:
        raise ValueError("may be left out, but cannot be null")
    return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LoginIn(Strict):
    email: EmailStr = Field(examples=["owner@demo.souk.local"])
    password: str = Field(min_length=1, max_length=1024)
    tenant: str | None = Field(None, description="Tenant slug, when the same email exists in several tenants.")


class UserOut(Out):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None = None


class MeOut(BaseModel):
    tenant_id: uuid.UUID
    tenant_slug: str
    role: Role
    actor_type: str
    label: str
    user: UserOut | None = None


class UserCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "mona@shop.example", "name": "Mona Adel", "password": "a long passphrase", "role": "agent"}
            ]
        }
    )
    email: EmailStr
    name: str = Field("", max_length=200)
    password: str = Field(min_length=8, max_length=1024)
    role: Role = Role.agent


class UserPatch(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "admin", "is_active": True}]})
    name: str | None = Field(None, max_length=200)
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=1024)


class ProjectCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Cairo store"}]})
    name: str = Field(min_length=1, max_length=200)


class ProjectOut(Out):
    id: uuid.UUID
    name: str
    is_default: bool
    created_at: datetime


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200, examples=["zapier"])
    role: Role = Role.admin
    expires_at: datetime | None = Field(None, description="When the key stops working (UTC); never if omitted.")


class ApiKeyOut(Out):
    id: uuid.UUID
    name: str
    prefix: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown only in this response: store it now.")


class SettingIn(Strict):
    value: str | None = Field(None, max_length=65536)
    category: str | None = Field(None, max_length=50, examples=["ai"])
    is_sensitive: bool = False
    description: str | None = Field(None, max_length=2000)


class SettingOut(BaseModel):
    key: str
    value: str | None = Field(description="The value; a sensitive one is masked and never returned in clear.")
    category: str | None
    is_sensitive: bool
    description: str | None
    updated_at: datetime
    updated_by: str


class AuditOut(Out):
    id: uuid.UUID
    at: datetime
    actor_type: str
    actor_id: str | None
    actor_label: str | None
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class InviteCreate(Strict):
    email: EmailStr = Field(examples=["amira@shop.example"])
    role: Role = Field(Role.agent, description="The role the invited person gets; only an owner invites admins.")


class InviteOut(Out):
    id: uuid.UUID
    email: str
    role: Role
    invited_by: uuid.UUID | None
    invited_by_label: str
    created_at: datetime
    expires_at: datetime


class InviteCreated(InviteOut):
    url: str = Field(description="The invitation link. Shown only in this response: send it to the person now.")
    path: str = Field(description="The same link relative to this server: `/invite/{token}`.")


class InviteAccept(Strict):
    token: str = Field(min_length=10, max_length=200, description="The token of the invitation link.")
    name: str = Field(min_length=1, max_length=200, examples=["Amira Haddad"])
    password: str = Field(min_length=8, max_length=1024)
