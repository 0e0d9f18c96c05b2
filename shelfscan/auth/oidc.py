"""OpenID Connect bearer tokens (Entra ID, Okta, Keycloak …), verified with PyJWT.

The issuer's discovery document (``{issuer}/.well-known/openid-configuration``) names its
JWKS; tokens must be signed by one of those keys (RS*/ES*/PS* only — never ``none`` or a
shared secret), carry our audience, the configured issuer, and be unexpired. Roles come from a
configurable claim (default ``roles``, what Entra ID app roles emit) and the scope from
another (default ``shelfscan_scope``: ``chain``, ``store:S001`` or ``region:north``, one string
or a list). A role without a scope the role allows grants nothing.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from shelfscan.auth.errors import Unauthenticated
from shelfscan.auth.roles import (
    Grant,
    Principal,
    PrincipalKind,
    Role,
    ScopeKind,
    check_scope,
)

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384", "PS512"]
DISCOVERY_TTL_S = 3600.0
HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class OIDCConfig:
    issuer: str
    audience: str
    role_claim: str = "roles"
    scope_claim: str = "shelfscan_scope"
    leeway_s: int = 30


def _fetch_json(url: str) -> dict[str, Any]:
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise Unauthenticated("the identity provider must be reached over https", code="oidc_error")
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        return json.loads(response.read(1_000_000))


class OIDCVerifier:
    def __init__(self, config: OIDCConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._discovered_at = 0.0
        self._jwks: jwt.PyJWKClient | None = None

    def _jwks_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None or time.monotonic() - self._discovered_at > DISCOVERY_TTL_S:
                base = self.config.issuer.rstrip("/")
                document = _fetch_json(f"{base}/.well-known/openid-configuration")
                if document.get("issuer", "").rstrip("/") != base:
                    raise Unauthenticated(
                        "the identity provider's discovery document names another issuer",
                        code="oidc_error",
                    )
                self._jwks = jwt.PyJWKClient(document["jwks_uri"], cache_keys=True, lifespan=300)
                self._discovered_at = time.monotonic()
            return self._jwks

    def verify(self, token: str) -> dict[str, Any]:
        try:
            key = self._jwks_client().get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", code="expired_credentials") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(
                "the token is for another audience", code="invalid_token"
            ) from None
        except (jwt.PyJWTError, KeyError, OSError, ValueError) as error:
            raise Unauthenticated(
                f"the token is not valid: {type(error).__name__}", code="invalid_token"
            ) from None

    def principal(self, token: str) -> Principal:
        claims = self.verify(token)
        grants = grants_from_claims(claims, self.config)
        name = str(claims.get("preferred_username") or claims.get("email") or claims["sub"])
        return Principal(kind=PrincipalKind.OIDC, id=str(claims["sub"]), name=name, grants=grants)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.replace(",", " ").split()
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return []


def grants_from_claims(claims: dict[str, Any], config: OIDCConfig) -> tuple[Grant, ...]:
    roles = [
        Role(r) for r in _as_list(claims.get(config.role_claim)) if r in Role._value2member_map_
    ]
    scopes: list[tuple[ScopeKind, str | None]] = []
    for item in _as_list(claims.get(config.scope_claim)):
        kind, _, code = item.partition(":")
        if kind in ScopeKind._value2member_map_:
            scopes.append((ScopeKind(kind), code or None))
    grants: list[Grant] = []
    for role in roles:
        for kind, code in scopes:
            try:
                check_scope(role, kind, code)
            except ValueError:
                continue
            grants.append(Grant(role, kind, code))
    return tuple(dict.fromkeys(grants))
