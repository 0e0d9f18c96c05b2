"""Single sign-on against an OpenID Connect issuer the test starts on loopback: discovery
document, JWKS and a token endpoint, tokens signed with a generated RSA key."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from shelfscan.api.app import create_app
from shelfscan.db.migrate import upgrade
from shelfscan.db.session import session_scope
from shelfscan.services.stores import create_store
from shelfscan.settings import Settings

AUDIENCE = "shelfscan-api"


@dataclass
class Issuer:
    url: str
    key: rsa.RSAPrivateKey

    def token(self, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "user-1",
            "preferred_username": "ana@example.com",
            "iat": now,
            "exp": now + 300,
            "roles": ["store_manager"],
            "shelfscan_scope": ["store:S001"],
            **claims,
        }
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            base = state["url"]
            if self.path == "/.well-known/openid-configuration":
                self._json(
                    {
                        "issuer": base,
                        "jwks_uri": f"{base}/jwks",
                        "token_endpoint": f"{base}/token",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                )
            elif self.path == "/jwks":
                self._json({"keys": [jwk]})
            else:
                self.send_error(404)

        def do_POST(self) -> None:  # the token endpoint (client credentials)
            if self.path != "/token":
                self.send_error(404)
                return
            self._json({"access_token": state["issue"](), "token_type": "Bearer"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    found = Issuer(state["url"], key)
    state["issue"] = found.token
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()


@pytest.fixture
def client(issuer: Issuer, tmp_path: Path, sqlite_url: str) -> Iterator[TestClient]:
    upgrade(sqlite_url)
    with session_scope(sqlite_url) as session:
        create_store(session, "S001", "Main", "north")
        create_store(session, "S002", "Harbour", "south")
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        oidc_issuer=issuer.url,
        oidc_client_id=AUDIENCE,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _get(client: TestClient, path: str, token: str) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_token_from_the_token_endpoint_maps_roles_and_scope(
    issuer: Issuer, client: TestClient
) -> None:
    import urllib.request

    request = urllib.request.Request(f"{issuer.url}/token", data=b"grant_type=client_credentials")
    with urllib.request.urlopen(request, timeout=5) as answer:
        token = json.loads(answer.read())["access_token"]
    me = _get(client, "/api/v1/auth/me", token)
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "oidc"
    assert me.json()["grants"] == [{"role": "store_manager", "scope": "store", "code": "S001"}]
    assert _get(client, "/api/v1/stores/S001", token).status_code == 200
    assert _get(client, "/api/v1/stores/S002", token).status_code == 404
    assert _get(client, "/api/v1/auth/users", token).status_code == 403


@pytest.mark.parametrize(
    ("case", "expected_code"),
    [
        ("expired", "expired_credentials"),
        ("wrong_audience", "invalid_token"),
        ("bad_signature", "invalid_token"),
        ("wrong_issuer", "invalid_token"),
    ],
)
def test_bad_tokens_are_refused(
    issuer: Issuer, client: TestClient, case: str, expected_code: str
) -> None:
    if case == "expired":
        token = issuer.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
    elif case == "wrong_audience":
        token = issuer.token(aud="someone-else")
    elif case == "bad_signature":
        token = issuer.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    else:
        token = issuer.token(iss="https://evil.example.com")
    answer = _get(client, "/api/v1/auth/me", token)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == expected_code


def test_a_role_without_an_allowed_scope_grants_nothing(issuer: Issuer, client: TestClient) -> None:
    token = issuer.token(roles=["store_manager"], shelfscan_scope="chain")
    assert _get(client, "/api/v1/auth/me", token).json()["grants"] == []
    assert _get(client, "/api/v1/stores/S001", token).status_code == 403
