"""Who is asking and whether they may: the app-wide ``authorize`` dependency, the table that
declares every route's permission, CSRF, security headers and CORS.

Ways in, tried in this order:

1. ``Authorization: Bearer <secret>`` — an API key (``ssk_…``), a device token (``ssd_…``) or,
   when an OIDC issuer is configured, a JWT from it;
2. ``Ocp-Apim-Subscription-Key: <API key>`` on the Azure-compatible routes (``/computervision``),
   so a migrating Azure client changes only its endpoint and key;
3. the ``shelfscan_session`` cookie of a password login; unsafe methods must then echo the
   session's CSRF token in ``X-CSRF-Token`` (a synchronizer token: the cookie alone, which a
   browser attaches to cross-site requests, is never enough) and, when the browser sends an
   ``Origin``, it must be this site's;
4. the ``shelfscan_device`` cookie of an enrolled phone (HttpOnly, set by the enrolment
   exchange so that the staff page's plain ``<img>`` requests carry the device's token), on
   safe methods only: an unsafe request from a phone must send its token as a Bearer header,
   which a cross-site page cannot make the browser do, so the cookie alone changes nothing.

Nothing else is accepted: a route missing from :data:`ROUTE_PERMISSIONS` is refused (and the
route-coverage test fails), so a new route is closed until someone declares who may call it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shelfscan.api.errors import is_azure_route, render_error
from shelfscan.auth import service
from shelfscan.auth.errors import Forbidden, Throttled, Unauthenticated
from shelfscan.auth.oidc import OIDCConfig, OIDCVerifier
from shelfscan.auth.roles import Permission as P
from shelfscan.auth.roles import Principal, PrincipalKind, Role, ScopeKind
from shelfscan.auth.scope import store_visible
from shelfscan.auth.throttle import ThrottlePolicy
from shelfscan.db.models import Store
from shelfscan.db.session import session_scope
from shelfscan.services.errors import NotFound
from shelfscan.settings import Settings

SESSION_COOKIE = "shelfscan_session"
CSRF_COOKIE = "shelfscan_csrf"  # readable copy of the session's CSRF token for page scripts
CSRF_HEADER = "X-CSRF-Token"
DEVICE_COOKIE = "shelfscan_device"  # HttpOnly copy of a phone's token, for <img>
SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Access(StrEnum):
    PUBLIC = "public"  # no credentials needed
    AUTHENTICATED = "authenticated"  # any principal (e.g. /auth/me)
    DEVICE = "device"  # an enrolled phone only


Rule = P | Access
STORES = "/api/v1/stores"
SCANS = "/api/v1/stores/{store_code}/scans/{scan_id}"
RUN = "/computervision/productrecognition/{modelName}/runs/{runName}"

# Every route's permission, by (method, path template). The explicit public allowlist is the
# Access.PUBLIC entries: health probes, the staff/login page and its static files, the API
# documentation, login and device enrolment.
ROUTE_PERMISSIONS: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): Access.PUBLIC,
    ("GET", "/readyz"): Access.PUBLIC,
    ("GET", "/"): Access.PUBLIC,
    ("GET", "/static/{name}"): Access.PUBLIC,
    ("GET", "/openapi.json"): Access.PUBLIC,
    ("GET", "/docs"): Access.PUBLIC,
    ("GET", "/docs/oauth2-redirect"): Access.PUBLIC,
    ("GET", "/redoc"): Access.PUBLIC,
    ("GET", "/docs/assets/{name}"): Access.PUBLIC,
    # planograms: chain-wide documents
    ("POST", "/api/v1/planograms"): P.PLANOGRAMS_WRITE,
    ("POST", "/api/v1/planograms:validate"): P.PLANOGRAMS_READ,
    ("GET", "/api/v1/planograms"): P.PLANOGRAMS_READ,
    ("GET", "/api/v1/planograms/{key}"): P.PLANOGRAMS_READ,
    ("GET", "/api/v1/planograms/{key}/versions"): P.PLANOGRAMS_READ,
    ("GET", "/api/v1/planograms/{key}/export"): P.PLANOGRAMS_READ,
    ("GET", "/api/v1/planograms/{key}/render.png"): P.PLANOGRAMS_READ,
    # stores and bays: store-scoped by {store_code}
    ("POST", STORES): P.STORES_WRITE,
    ("GET", STORES): P.STORES_READ,
    ("GET", f"{STORES}/{{store_code}}"): P.STORES_READ,
    ("POST", f"{STORES}/{{store_code}}/bays"): P.BAYS_WRITE,
    ("GET", f"{STORES}/{{store_code}}/bays"): P.STORES_READ,
    ("GET", f"{STORES}/{{store_code}}/bays/{{bay_code}}"): P.STORES_READ,
    ("POST", f"{STORES}/{{store_code}}/bays/{{bay_code}}/assignments"): P.BAYS_WRITE,
    ("GET", f"{STORES}/{{store_code}}/bays/{{bay_code}}/planogram"): P.STORES_READ,
    ("POST", f"{STORES}/{{store_code}}/devices/enrolment-codes"): P.DEVICES_ENROL,
    ("GET", f"{STORES}/{{store_code}}/devices"): P.DEVICES_ENROL,
    # scans
    ("POST", f"{STORES}/{{store_code}}/bays/{{bay_code}}/scans"): P.SCANS_WRITE,
    ("GET", f"{STORES}/{{store_code}}/scans"): P.SCANS_READ,
    ("GET", SCANS): P.SCANS_READ,
    ("GET", f"{SCANS}/annotated.jpg"): P.SCANS_READ,
    ("GET", f"{SCANS}/photos/{{index}}"): P.SCANS_READ,
    ("GET", f"{SCANS}/evidence/{{facing_id}}.jpg"): P.SCANS_READ,
    ("POST", f"{SCANS}/retry"): P.SCANS_WRITE,
    ("POST", f"{SCANS}/photos"): P.SCANS_WRITE,
    ("GET", f"{SCANS}/overview.png"): P.SCANS_READ,
    ("GET", f"{SCANS}/reports"): P.SCANS_READ,
    ("GET", f"{SCANS}/reports/{{version}}"): P.SCANS_READ,
    # Azure-compatible routes (runs are not store data)
    ("PUT", RUN): P.RECOGNITION_RUN,
    ("GET", RUN): P.RECOGNITION_RUN,
    ("DELETE", RUN): P.RECOGNITION_RUN,
    ("GET", "/computervision/productrecognition/{modelName}/runs"): P.RECOGNITION_RUN,
    ("POST", "/computervision/planogramcompliance:match"): P.RECOGNITION_RUN,
    # access control itself
    ("POST", "/api/v1/auth/login"): Access.PUBLIC,
    ("POST", "/api/v1/auth/logout"): Access.AUTHENTICATED,
    ("GET", "/api/v1/auth/me"): Access.AUTHENTICATED,
    ("POST", "/api/v1/auth/device/enrol"): Access.PUBLIC,
    ("PUT", "/api/v1/auth/device/associate"): Access.DEVICE,
    ("GET", "/api/v1/auth/api-keys"): P.API_KEYS_ADMIN,
    ("POST", "/api/v1/auth/api-keys"): P.API_KEYS_ADMIN,
    ("DELETE", "/api/v1/auth/api-keys/{prefix}"): P.API_KEYS_ADMIN,
    ("GET", "/api/v1/auth/users"): P.USERS_ADMIN,
    ("POST", "/api/v1/auth/users"): P.USERS_ADMIN,
    ("PUT", "/api/v1/auth/users/{username}/role"): P.USERS_ADMIN,
    ("POST", "/api/v1/auth/users/{username}/disable"): P.USERS_ADMIN,
    ("GET", "/api/v1/auth/audit"): P.AUDIT_READ,
}


def _merge_audit_routes() -> None:
    """Scheduled audits declare their routes' permissions next to the routes."""
    from shelfscan.api.routes.audits import AUDIT_ROUTE_PERMISSIONS

    for key, rule in AUDIT_ROUTE_PERMISSIONS.items():
        ROUTE_PERMISSIONS[key] = rule if isinstance(rule, P) else Access(rule)


_merge_audit_routes()


def _merge_analytics_routes() -> None:
    """Analytics and the dashboard declare their routes' permissions next to the routes."""
    from shelfscan.api.routes.analytics import ROUTE_PERMISSIONS as ANALYTICS
    from shelfscan.api.routes.dashboard import ROUTE_PERMISSIONS as DASHBOARD

    for key, rule in (ANALYTICS | DASHBOARD).items():
        ROUTE_PERMISSIONS[key] = rule if isinstance(rule, P) else Access(rule)


_merge_analytics_routes()


def route_rule(method: str, path: str) -> Rule | None:
    return ROUTE_PERMISSIONS.get(("GET" if method == "HEAD" else method, path))


# --- configuration -----------------------------------------------------------------------------


def auth_policy(settings: Settings) -> service.AuthPolicy:
    roles = frozenset(
        Role(name.strip()) for name in settings.auth_require_totp_for.split(",") if name.strip()
    )
    return service.AuthPolicy(
        session_ttl_s=settings.session_ttl_s,
        require_totp_for=roles,
        throttle=ThrottlePolicy(
            account_threshold=settings.login_max_failures_per_account,
            address_threshold=settings.login_max_failures_per_address,
            base_delay_s=settings.login_lockout_s,
            max_delay_s=settings.login_lockout_max_s,
        ),
    )


def oidc_verifier(request: Request) -> OIDCVerifier | None:
    settings: Settings = request.app.state.settings
    if not settings.oidc_issuer:
        return None
    verifier = getattr(request.app.state, "oidc_verifier", None)
    if verifier is None:
        audience = settings.oidc_audience or settings.oidc_client_id or ""
        verifier = OIDCVerifier(
            OIDCConfig(
                issuer=settings.oidc_issuer,
                audience=audience,
                role_claim=settings.oidc_role_claim,
                scope_claim=settings.oidc_scope_claim,
            )
        )
        request.app.state.oidc_verifier = verifier
    return verifier


def client_address(request: Request) -> str | None:
    """The caller's address as the ASGI server reports it; behind a proxy run uvicorn with
    ``--proxy-headers --forwarded-allow-ips`` so this is the client's, not the proxy's."""
    return request.client.host if request.client else None


# --- authentication ----------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated(
            "use 'Authorization: Bearer <key or token>'", code="invalid_credentials"
        )
    return value.strip()


def authenticate(request: Request) -> Principal | None:
    """The principal the request's credentials name, None without credentials;
    :class:`Unauthenticated` for credentials that are wrong, expired or revoked."""
    url = request.app.state.settings.resolved_database_url
    token = _bearer(request)
    if token is None and is_azure_route(request):
        token = request.headers.get(SUBSCRIPTION_KEY_HEADER) or None
    if token is not None:
        if token.count(".") == 2 and not token.startswith(("ssk_", "ssd_", "sss_")):
            verifier = oidc_verifier(request)
            if verifier is None:
                raise Unauthenticated(
                    "single sign-on is not configured", code="invalid_credentials"
                )
            return verifier.principal(token)
        with session_scope(url) as session:
            return service.resolve_bearer_secret(session, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with session_scope(url) as session:
            principal, row = service.resolve_session(session, cookie)
            csrf = row.csrf_token
        if request.method not in SAFE_METHODS:
            check_csrf(request, csrf)
        return principal
    device_token = request.cookies.get(DEVICE_COOKIE)
    if device_token and request.method in SAFE_METHODS:
        if not device_token.startswith("ssd_"):  # only a device token may travel this way
            raise Unauthenticated("the device cookie is not valid", code="invalid_credentials")
        with session_scope(url) as session:
            return service.resolve_bearer_secret(session, device_token)
    return None


def check_csrf(request: Request, expected: str) -> None:
    import hmac

    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.url.netloc}"
        forwarded = request.headers.get("x-forwarded-host")
        allowed = {own} | ({f"https://{forwarded}"} if forwarded else set())
        if origin not in allowed:
            raise Forbidden(f"cross-site request from {origin} refused", code="csrf_failed")
    given = request.headers.get(CSRF_HEADER, "")
    if not given or not hmac.compare_digest(given, expected):
        raise Forbidden(
            f"session requests that change something must send the {CSRF_HEADER} header "
            "from /api/v1/auth/me or the login answer",
            code="csrf_failed",
        )


def _store_not_found(path: str, code: str) -> NotFound:
    # The same answer the route gives for a store that does not exist.
    if "/scans" in path:
        return NotFound("store_not_found", f"no store with code {code!r}")
    return NotFound("not_found", f"store {code!r} not found")


def authorize(request: Request) -> Principal | None:
    """The app-wide dependency: 401 without valid credentials, 403 for a role without the
    route's permission, 404 for a store outside the caller's scope."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = route_rule(request.method, path)
    if rule is None:  # fail closed; the route-coverage test names the route
        raise Forbidden(f"{request.method} {path} has no declared permission")
    if rule is Access.PUBLIC:
        request.state.principal = None
        return None
    principal = authenticate(request)
    if principal is None:
        raise Unauthenticated()
    request.state.principal = principal
    if rule is Access.AUTHENTICATED:
        return principal
    if rule is Access.DEVICE:
        if principal.kind is not PrincipalKind.DEVICE:
            raise Forbidden("only an enrolled device may do this")
        return principal
    if not principal.can(rule):
        roles = ", ".join(sorted({g.role.value for g in principal.grants})) or "no role"
        raise Forbidden(f"{rule.value} is not granted to {roles}")
    store_code = request.path_params.get("store_code")
    if store_code is not None and not _visible_by_code(principal, rule, store_code):
        url = request.app.state.settings.resolved_database_url
        with session_scope(url) as session:
            store = session.scalar(select(Store).where(Store.code == store_code))
            if store is not None and not store_visible(principal, store, rule):
                if store_visible(principal, store):
                    raise Forbidden(f"{rule.value} is not granted for store {store_code!r}")
                raise _store_not_found(path, store_code)
    return principal


def _visible_by_code(principal: Principal, rule: P, store_code: str) -> bool:
    """A chain-wide grant, or one for this very store code, decides without loading the store
    (every upload of a store phone or an HQ key); a region grant needs the store's region."""
    return any(
        grant.scope is ScopeKind.CHAIN
        or (grant.scope is ScopeKind.STORE and grant.code == store_code)
        for grant in principal.grants_with(rule)
    )


def current_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthenticated()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


# --- headers, CORS, error details --------------------------------------------------------------

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), geolocation=(), microphone=()",
}


class SecurityHeadersMiddleware:
    """Frame denial, no sniffing, no referrer on every answer; a Content-Security-Policy with
    no inline script on HTML pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def install_security(app: FastAPI, settings: Settings) -> None:
    """Headers, CORS (only when origins are configured) and the 401/429 answers' headers.
    The ``authorize`` dependency itself is given to ``FastAPI(dependencies=...)``."""
    origins = _origins(settings.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", CSRF_HEADER, SUBSCRIPTION_KEY_HEADER],
        )
    app.add_middleware(SecurityHeadersMiddleware)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(request: Request, error: Unauthenticated) -> JSONResponse:
        if is_azure_route(request):
            # Azure's own code for a missing or wrong subscription key.
            error.code = error.header_code = "401"
            error.message = (
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                "to provide a valid key for an active subscription and use a correct regional "
                "API endpoint for your resource."
            )
        response = render_error(request, error)
        response.headers["WWW-Authenticate"] = 'Bearer realm="shelfscan"'
        return response

    @app.exception_handler(Throttled)
    async def throttled(request: Request, error: Throttled) -> JSONResponse:
        response = render_error(request, error)
        response.headers["Retry-After"] = str(error.retry_after_s)
        return response


def iter_routes(app: FastAPI) -> Iterable[tuple[str, str]]:
    """``(method, path)`` of every route the app serves (through included routers too)."""
    from fastapi.routing import _IncludedRouter  # FastAPI ≥ 0.16x includes routers lazily

    def walk(routes: Iterable[object]) -> Iterable[object]:
        for route in routes:
            if isinstance(route, _IncludedRouter):
                yield from walk(route.original_router.routes)
            else:
                yield route

    for route in walk(app.router.routes):
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD":
                yield method, route.path  # type: ignore[attr-defined]
