"""Sign-in, sessions, devices, API keys, users and the audit log over HTTP.

Who may call each route is declared in :data:`shelfscan.api.security.ROUTE_PERMISSIONS`;
store-scoped routes (device enrolment codes) are checked against the caller's scope there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from shelfscan.api.deps import DbSession
from shelfscan.api.security import (
    CSRF_COOKIE,
    DEVICE_COOKIE,
    SESSION_COOKIE,
    CurrentPrincipal,
    auth_policy,
    client_address,
)
from shelfscan.auth import audit, service
from shelfscan.auth.models import ApiKey, AuditEvent, Device, User
from shelfscan.auth.roles import Principal, PrincipalKind, parse_role
from shelfscan.services.errors import BadRequest
from shelfscan.services.stores import get_store

router = APIRouter(prefix="/api/v1/auth", tags=["access control"])
# A phone's cookie lives as long as browsers allow (Chromium caps cookies at 400 days); the
# staff page's /me call renews it whenever the phone sends its token as a Bearer header.
DEVICE_COOKIE_MAX_AGE_S = 400 * 24 * 3600
store_router = APIRouter(prefix="/api/v1/stores/{store_code}/devices", tags=["access control"])


class GrantOut(BaseModel):
    role: str
    scope: str = Field(description="store, region or chain")
    code: str | None = Field(description="The store or region code; null for the chain")


class MeOut(BaseModel):
    kind: str = Field(description="user, api_key, device or oidc")
    name: str
    grants: list[GrantOut]
    permissions: list[str]
    associate: str | None = None
    store: str | None = Field(None, description="A device's store")
    csrf_token: str | None = Field(
        None, description="Send as X-CSRF-Token on unsafe requests made with the session cookie"
    )


class LoginIn(BaseModel):
    username: str = Field(max_length=255)
    password: str = Field(max_length=1024)
    totp: str | None = Field(None, max_length=16, description="The 6-digit code, when enrolled")


class DeviceEnrolIn(BaseModel):
    code: str = Field(max_length=32, description="The one-time code from the store manager")
    name: str = Field("store phone", max_length=255, description="A name for this phone")


class DeviceTokenOut(BaseModel):
    token: str = Field(description="Shown once: send as 'Authorization: Bearer <token>'")
    device: str = Field(description="The device's prefix")
    store: str


class AssociateIn(BaseModel):
    name: str = Field(max_length=255, description="Who uses the phone now (scans' taken_by)")


class EnrolmentCodeOut(BaseModel):
    code: str = Field(description="Shown once; type it on the phone")
    store: str
    expires_at: datetime


class DeviceOut(BaseModel):
    prefix: str
    name: str
    store: str
    associate: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyIn(BaseModel):
    name: str = Field(max_length=255)
    role: str
    store: str | None = None
    region: str | None = None
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    prefix: str
    name: str
    role: str
    scope: str
    code: str | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="Shown once; it cannot be read again")


class UserIn(BaseModel):
    username: str = Field(max_length=255)
    password: str = Field(max_length=1024)
    role: str
    store: str | None = None
    region: str | None = None
    display_name: str = ""


class RoleIn(BaseModel):
    role: str
    store: str | None = None
    region: str | None = None


class UserOut(BaseModel):
    username: str
    display_name: str
    active: bool
    totp: bool
    grants: list[GrantOut]
    last_login_at: datetime | None


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    event: str
    outcome: str
    actor: str | None
    target: str | None
    client_address: str | None
    details: dict | None


def _grants(principal: Principal) -> list[GrantOut]:
    return [GrantOut(role=g.role.value, scope=g.scope.value, code=g.code) for g in principal.grants]


def _me(principal: Principal, csrf_token: str | None = None) -> MeOut:
    store = principal.grants[0].code if principal.kind is PrincipalKind.DEVICE else None
    return MeOut(
        kind=principal.kind.value,
        name=principal.name,
        grants=_grants(principal),
        permissions=sorted(p.value for p in principal.permissions),
        associate=principal.associate,
        store=store,
        csrf_token=csrf_token,
    )


def _role(value: str):  # type: ignore[no-untyped-def]
    try:
        return parse_role(value)
    except ValueError as error:
        raise BadRequest("invalid_role", str(error), field="role") from None


# --- sessions ----------------------------------------------------------------------------------


@router.post("/login", response_model=MeOut, summary="Sign in with a password (and TOTP code)")
def login(body: LoginIn, request: Request, response: Response, session: DbSession) -> MeOut:
    settings = request.app.state.settings
    result = service.login(
        session,
        body.username,
        body.password,
        body.totp,
        client_address=client_address(request),
        user_agent=request.headers.get("user-agent"),
        policy=auth_policy(settings),
    )
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=int(settings.session_ttl_s),
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    # The CSRF token again, readable by the pages' scripts (not HttpOnly), which echo it as
    # X-CSRF-Token; the server compares it with the session's own copy, not with this cookie.
    response.set_cookie(
        CSRF_COOKIE,
        result.csrf_token,
        max_age=int(settings.session_ttl_s),
        httponly=False,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return _me(result.principal, result.csrf_token)


@router.post("/logout", status_code=204, summary="End this session (or do nothing for keys)")
def logout(request: Request, principal: CurrentPrincipal, session: DbSession) -> Response:
    if principal.session_id is not None:
        service.logout(
            session,
            principal.session_id,
            actor=principal.actor,
            client_address=client_address(request),
        )
    elif principal.kind is PrincipalKind.DEVICE:
        # "Sign out" on a store phone forgets its token; a token nobody holds any more must
        # not stay valid (in a backup of the phone, say), so it is revoked too.
        service.revoke_device(session, principal.id, actor=principal.actor)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.delete_cookie(DEVICE_COOKIE, path="/")
    return response


def _set_device_cookie(response: Response, request: Request, token: str) -> None:
    """The device token again, HttpOnly, for the staff page's plain ``<img>`` requests (which
    cannot carry a Bearer header); accepted on safe methods only (api/security.py)."""
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=DEVICE_COOKIE_MAX_AGE_S,
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="strict",
        path="/",
    )


@router.get("/me", response_model=MeOut, summary="Who the credentials name, and what they may do")
def me(
    request: Request, response: Response, principal: CurrentPrincipal, session: DbSession
) -> MeOut:
    bearer = request.headers.get("authorization", "").partition(" ")[2].strip()
    if principal.kind is PrincipalKind.DEVICE and bearer.startswith("ssd_"):
        _set_device_cookie(response, request, bearer)  # renewed while the phone is in use
    csrf = None
    if principal.session_id is not None:
        from shelfscan.auth.models import AuthSession

        csrf = session.scalar(
            select(AuthSession.csrf_token).where(AuthSession.id == principal.session_id)
        )
    return _me(principal, csrf)


# --- devices -----------------------------------------------------------------------------------


@router.post(
    "/device/enrol", response_model=DeviceTokenOut, summary="Exchange a one-time code for a token"
)
def enrol_device(
    body: DeviceEnrolIn, request: Request, response: Response, session: DbSession
) -> DeviceTokenOut:
    device, token, store = service.enrol_device(
        session,
        body.code,
        body.name,
        client_address=client_address(request),
        policy=auth_policy(request.app.state.settings),
    )
    _set_device_cookie(response, request, token)
    return DeviceTokenOut(token=token, device=device.prefix, store=store.code)


@router.put("/device/associate", response_model=MeOut, summary="Who is using this phone now")
def set_associate(body: AssociateIn, principal: CurrentPrincipal, session: DbSession) -> MeOut:
    device = service.set_device_associate(session, principal.id, body.name)
    return _me(
        Principal(
            kind=principal.kind,
            id=principal.id,
            name=principal.name,
            grants=principal.grants,
            associate=device.associate_name,
        )
    )


@store_router.post(
    "/enrolment-codes",
    status_code=201,
    response_model=EnrolmentCodeOut,
    summary="A one-time code to enrol a phone for this store",
)
def create_enrolment_code(
    store_code: str, request: Request, principal: CurrentPrincipal, session: DbSession
) -> EnrolmentCodeOut:
    store = get_store(session, store_code)
    row, code = service.create_enrolment_code(
        session, store, actor=principal.actor, policy=auth_policy(request.app.state.settings)
    )
    return EnrolmentCodeOut(code=code, store=store.code, expires_at=row.expires_at)


@store_router.get("", response_model=list[DeviceOut], summary="The store's enrolled phones")
def list_store_devices(
    store_code: str, principal: CurrentPrincipal, session: DbSession
) -> list[DeviceOut]:
    store = get_store(session, store_code)
    return [_device_out(d, store.code) for d in service.list_devices(session, [store.id])]


def _device_out(device: Device, store_code: str) -> DeviceOut:
    return DeviceOut(
        prefix=device.prefix,
        name=device.name,
        store=store_code,
        associate=device.associate_name,
        created_at=device.created_at,
        last_used_at=device.last_used_at,
        revoked_at=device.revoked_at,
    )


# --- API keys ----------------------------------------------------------------------------------


def _key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        prefix=key.prefix,
        name=key.name,
        role=key.role,
        scope=key.scope_kind,
        code=key.scope_code,
        created_by=key.created_by,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.get("/api-keys", response_model=list[ApiKeyOut], summary="API keys (never the secret)")
def list_keys(session: DbSession) -> list[ApiKeyOut]:
    return [_key_out(key) for key in service.list_api_keys(session)]


@router.post(
    "/api-keys", status_code=201, response_model=ApiKeyCreatedOut, summary="Create an API key"
)
def create_key(body: ApiKeyIn, principal: CurrentPrincipal, session: DbSession) -> ApiKeyCreatedOut:
    grant = service.make_grant(session, _role(body.role), body.store, body.region)
    key, secret = service.create_api_key(
        session, body.name, grant, expires_at=body.expires_at, actor=principal.actor
    )
    return ApiKeyCreatedOut(**_key_out(key).model_dump(), key=secret)


@router.delete("/api-keys/{prefix}", response_model=ApiKeyOut, summary="Revoke an API key now")
def revoke_key(prefix: str, principal: CurrentPrincipal, session: DbSession) -> ApiKeyOut:
    return _key_out(service.revoke_api_key(session, prefix, actor=principal.actor))


# --- users -------------------------------------------------------------------------------------


def _user_out(user: User) -> UserOut:
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        active=user.is_active,
        totp=user.totp_secret is not None,
        grants=[
            GrantOut(role=g.role.value, scope=g.scope.value, code=g.code)
            for g in service.user_grants(user)
        ],
        last_login_at=user.last_login_at,
    )


@router.get("/users", response_model=list[UserOut], summary="Users and their grants")
def list_users(session: DbSession) -> list[UserOut]:
    return [_user_out(user) for user in service.list_users(session)]


@router.post("/users", status_code=201, response_model=UserOut, summary="Create a user")
def add_user(body: UserIn, principal: CurrentPrincipal, session: DbSession) -> UserOut:
    grant = service.make_grant(session, _role(body.role), body.store, body.region)
    user = service.add_user(
        session,
        body.username,
        body.password,
        grant,
        display_name=body.display_name,
        actor=principal.actor,
    )
    return _user_out(user)


@router.put("/users/{username}/role", response_model=UserOut, summary="Replace a user's role")
def set_role(
    username: str, body: RoleIn, principal: CurrentPrincipal, session: DbSession
) -> UserOut:
    grant = service.make_grant(session, _role(body.role), body.store, body.region)
    return _user_out(service.set_role(session, username, grant, actor=principal.actor))


@router.post(
    "/users/{username}/disable", response_model=UserOut, summary="Disable a user; sessions end"
)
def disable_user(username: str, principal: CurrentPrincipal, session: DbSession) -> UserOut:
    return _user_out(service.set_active(session, username, False, actor=principal.actor))


# --- audit log ---------------------------------------------------------------------------------


@router.get("/audit", response_model=list[AuditEventOut], summary="Security events, newest first")
def audit_log(
    session: DbSession,
    event: str | None = None,
    since: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventOut]:
    rows: list[AuditEvent] = audit.list_events(
        session, event=event, since=since, limit=limit, before_id=before_id
    )
    return [
        AuditEventOut(
            id=r.id,
            at=r.at,
            event=r.event,
            outcome=r.outcome,
            actor=r.actor,
            target=r.target,
            client_address=r.client_address,
            details=r.details,
        )
        for r in rows
    ]


__all__ = ["router", "store_router"]
