"""Every route declares who may call it; the role × route × store matrix holds on SQLite and
PostgreSQL: 401 without credentials, 403 for a role without the permission, 404 for a store
(and its objects) outside the caller's scope."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shelfscan.api.app import create_app
from shelfscan.api.security import ROUTE_PERMISSIONS, Access, iter_routes
from shelfscan.auth import service
from shelfscan.auth.roles import ROLE_PERMISSIONS, Permission, Role
from shelfscan.db.migrate import upgrade
from shelfscan.db.models import Scan
from shelfscan.db.session import session_scope
from shelfscan.services.stores import assign_planogram, create_bay, create_store, publish_planogram
from shelfscan.settings import Settings
from tests.store.test_planogram_store import small_planogram

OWN, OTHER = "S001", "S002"


@dataclass
class World:
    client: TestClient
    keys: dict[Role, str]
    scans: dict[str, str]  # store code -> a scan id of that store


# The scope each role's key gets: S001 and its region for the store-level roles.
SCOPES: dict[Role, tuple[str | None, str | None]] = {
    Role.ASSOCIATE: (OWN, None),
    Role.STORE_MANAGER: (OWN, None),
    Role.REGIONAL_MANAGER: (None, "north"),
    Role.HQ_ANALYST: (None, None),
    Role.ADMIN: (None, None),
}


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    upgrade(database_url)
    scans: dict[str, str] = {}
    keys: dict[Role, str] = {}
    with session_scope(database_url) as session:
        version = publish_planogram(session, small_planogram())
        for code, region in ((OWN, "north"), (OTHER, "south")):
            store = create_store(session, code, code, region)
            bay = create_bay(session, store, "A01")
            assign_planogram(session, bay, version, date.today() - timedelta(days=1))
            scan = Scan(
                id=str(uuid.uuid4()),
                store_id=store.id,
                bay_id=bay.id,
                planogram_version_id=version.id,
                status="done",
            )
            session.add(scan)
            scans[code] = scan.id
        for role, (store_code, region) in SCOPES.items():
            grant = service.make_grant(session, role, store_code, region)
            keys[role] = service.create_api_key(session, role.value, grant, actor="tests")[1]
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=database_url)
    with TestClient(create_app(settings)) as client:
        yield World(client, keys, scans)


def _path(template: str, store: str, world: World) -> str:
    values = {
        "store_code": store,
        "scan_id": world.scans[store],
        "bay_code": "A01",
        "key": "cereal-1",
        "index": "0",
        "facing_id": "f1",
        "modelName": "m",
        "runName": "r",
        "prefix": "nokey123",
        "username": "nobody",
        "name": "x",
        # scheduled audits
        "schedule_id": "1",
        "occurrence_id": "1",
        "task_id": "1",
        "endpoint_id": "1",
    }
    # Parameters other routes add later get a plausible value: refusals come before look-ups.
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), template)


def _call(world: World, method: str, path: str, key: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {} if method in {"POST", "PUT"} else None
    return world.client.request(method, path, headers=headers, json=body)


PROTECTED = [(m, p) for (m, p), rule in ROUTE_PERMISSIONS.items() if rule is not Access.PUBLIC]


def test_every_route_declares_its_permission(settings: Settings) -> None:
    served = set(iter_routes(create_app(settings)))
    undeclared = sorted(served - set(ROUTE_PERMISSIONS))
    assert undeclared == [], f"routes without a declared permission: {undeclared}"
    stale = sorted(set(ROUTE_PERMISSIONS) - served)
    assert stale == [], f"permissions declared for routes that do not exist: {stale}"
    public = sorted(p for (m, p), rule in ROUTE_PERMISSIONS.items() if rule is Access.PUBLIC)
    assert public == sorted(
        [
            "/",
            "/api/v1/auth/device/enrol",
            "/api/v1/auth/login",
            "/dashboard",
            "/dashboard/assets/{name}",
            "/docs",
            "/docs/assets/{name}",
            "/docs/oauth2-redirect",
            "/healthz",
            "/openapi.json",
            "/readyz",
            "/redoc",
            "/static/{name}",
        ]
    )


@pytest.mark.no_default_credentials
def test_role_route_store_matrix(world: World) -> None:
    failures: list[str] = []
    for method, template in PROTECTED:
        rule = ROUTE_PERMISSIONS[(method, template)]
        path = _path(template, OWN, world)
        anonymous = _call(world, method, path, None)
        if anonymous.status_code != 401:
            failures.append(f"anonymous {method} {path}: {anonymous.status_code}")
        for role, key in world.keys.items():
            allowed = (
                isinstance(rule, Permission) and rule in ROLE_PERMISSIONS[role]
            ) or rule is Access.AUTHENTICATED
            if not allowed:
                answer = _call(world, method, path, key)
                if answer.status_code != 403:
                    failures.append(f"{role} {method} {path}: {answer.status_code}, not 403")
            elif "{store_code}" in template and SCOPES[role] == (OWN, None):
                other = _path(template, OTHER, world)
                answer = _call(world, method, other, key)
                if answer.status_code != 404:
                    failures.append(f"{role} {method} {other}: {answer.status_code}, not 404")
    assert failures == []


@pytest.mark.no_default_credentials
def test_a_store_scoped_key_cannot_read_another_stores_scan_by_id(world: World) -> None:
    key = world.keys[Role.STORE_MANAGER]
    other_scan = world.scans[OTHER]
    for path in (
        f"/api/v1/stores/{OTHER}/scans/{other_scan}",
        f"/api/v1/stores/{OWN}/scans/{other_scan}",  # the id under the caller's own store
    ):
        assert _call(world, "GET", path, key).status_code == 404
    own = _call(world, "GET", f"/api/v1/stores/{OWN}/scans/{world.scans[OWN]}", key)
    assert own.status_code == 200
    listed = world.client.get("/api/v1/stores", headers={"Authorization": f"Bearer {key}"})
    assert [s["code"] for s in listed.json()] == [OWN]
    regional = world.keys[Role.REGIONAL_MANAGER]
    listed = world.client.get("/api/v1/stores", headers={"Authorization": f"Bearer {regional}"})
    assert [s["code"] for s in listed.json()] == [OWN]


@pytest.mark.no_default_credentials
def test_azure_routes_take_the_key_as_subscription_key_and_answer_401_in_azures_shape(
    world: World,
) -> None:
    path = "/computervision/productrecognition/m/runs"
    refused = world.client.get(path, headers={"Ocp-Apim-Subscription-Key": "wrong"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "401"
    assert refused.headers["x-ms-error-code"] == "401"
    accepted = world.client.get(
        path,
        params={"api-version": "2023-04-01-preview"},
        headers={"Ocp-Apim-Subscription-Key": world.keys[Role.ASSOCIATE]},
    )
    assert accepted.status_code not in (401, 403)
