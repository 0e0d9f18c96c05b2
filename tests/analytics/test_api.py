"""The aggregate API: shapes, formats, links, the cursor, and the scope filter."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shelfscan.api.app import create_app
from shelfscan.auth import service
from shelfscan.auth.roles import Role
from shelfscan.db.session import session_scope
from shelfscan.settings import Settings

API = "/api/v1/analytics"
RANGE = {"from": "2026-11-09", "to": "2026-11-29"}


@pytest.fixture
def client(sqlite_chain_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=sqlite_chain_url)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _key(url: str, role: Role, store: str | None = None, region: str | None = None) -> str:
    with session_scope(url) as session:
        grant = service.make_grant(session, role, store, region)
        return service.create_api_key(session, role.value, grant, actor="tests")[1]


def test_kpis_as_json_csv_and_parquet_agree(client: TestClient) -> None:
    query = {"level": "store", "by": "week", **RANGE}
    page = client.get(f"{API}/kpis", params=query)
    assert page.status_code == 200, page.text
    rows = page.json()["rows"]
    assert {r["store"] for r in rows} == {f"S{n:04d}" for n in range(1, 7)}
    assert all(r["scans_url"].startswith(f"{API}/scans?") for r in rows)
    csv = pd.read_csv(io.StringIO(client.get(f"{API}/kpis", params=query | {"format": "csv"}).text))
    parquet = pd.read_parquet(
        io.BytesIO(client.get(f"{API}/kpis", params=query | {"format": "parquet"}).content)
    )
    for frame in (csv, parquet):
        assert len(frame) == len(rows)
        assert frame["ok"].sum() == sum(r["ok"] for r in rows)
        assert frame["planogram_compliance"].sum() == pytest.approx(
            sum(r["planogram_compliance"] for r in rows)
        )


def test_every_row_links_to_the_scans_behind_it(client: TestClient) -> None:
    rows = client.get(f"{API}/kpis", params={"level": "bay", "by": "week", **RANGE}).json()["rows"]
    row = rows[0]
    scans = client.get(row["scans_url"]).json()
    assert len(scans) == row["scans"]
    assert {s["bay"] for s in scans} == {row["bay"]} and {s["store"] for s in scans} == {
        row["store"]
    }


def test_league_ranks_stores_and_gives_the_change(client: TestClient) -> None:
    page = client.get(f"{API}/league", params={"from": "2026-11-23", "to": "2026-11-29"}).json()
    assert page["previous_from"] == "2026-11-16" and page["previous_to"] == "2026-11-22"
    rows = page["rows"]
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    scores = [r["planogram_compliance"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    for row in rows:
        assert row["planogram_compliance_change"] == pytest.approx(
            row["planogram_compliance"] - row["planogram_compliance_previous"]
        )


def test_offenders_and_time_to_fix_answer(client: TestClient) -> None:
    offenders = client.get(f"{API}/offenders", params={"n": 2, "m": 3}).json()
    assert offenders["rows"] and all(r["failing"] >= 2 for r in offenders["rows"])
    products = client.get(f"{API}/offenders", params={"n": 2, "m": 3, "by": "product"}).json()
    assert sum(r["facings"] for r in products["rows"]) == len(offenders["rows"])
    assert client.get(f"{API}/offenders", params={"n": 4, "m": 3}).status_code == 422
    fix = client.get(f"{API}/time-to-fix", params={"level": "region", **RANGE}).json()
    assert fix and all(r["median_hours"] > 0 for r in fix if r["fixed"])


def test_facts_export_pages_through_every_row_once(client: TestClient) -> None:
    seen: list[int] = []
    since = 0
    while True:
        page = client.get(f"{API}/facts", params={"since": since, "limit": 300}).json()
        if not page["rows"]:
            break
        seen.extend(r["fact_id"] for r in page["rows"])
        since = page["next"]
    assert len(seen) == len(set(seen)) > 900
    assert seen == sorted(seen)
    csv = client.get(f"{API}/facts", params={"since": 0, "limit": 10, "format": "csv"})
    assert csv.headers["X-Next-Cursor"] == str(seen[9])


def test_bad_parameters_are_named(client: TestClient) -> None:
    answer = client.get(f"{API}/kpis", params={"from": "2026-11-10", "to": "2026-11-01"})
    assert answer.status_code in (400, 422)
    assert "from" in answer.text
    assert client.get(f"{API}/kpis", params={"level": "galaxy"}).status_code == 422


@pytest.mark.no_default_credentials
def test_scope_limits_every_number(client: TestClient, sqlite_chain_url: str) -> None:
    regional = _key(sqlite_chain_url, Role.REGIONAL_MANAGER, region="north")
    manager = _key(sqlite_chain_url, Role.STORE_MANAGER, store="S0002")
    query = {"level": "store", "by": "all", **RANGE}
    north = client.get(
        f"{API}/kpis", params=query, headers={"Authorization": f"Bearer {regional}"}
    ).json()["rows"]
    assert {r["region"] for r in north} == {"north"}
    own = client.get(
        f"{API}/kpis", params=query, headers={"Authorization": f"Bearer {manager}"}
    ).json()["rows"]
    assert [r["store"] for r in own] == ["S0002"]
    chain = client.get(
        f"{API}/kpis",
        params={"level": "chain", "by": "all", **RANGE},
        headers={"Authorization": f"Bearer {manager}"},
    ).json()["rows"]
    assert chain[0]["ok"] == own[0]["ok"]  # the "chain" of a store manager is their store
    facts = client.get(
        f"{API}/facts", params={"limit": 100_000}, headers={"Authorization": f"Bearer {manager}"}
    ).json()["rows"]
    assert {f["store"] for f in facts} == {"S0002"}
    assert client.get(f"{API}/kpis").status_code == 401


def _rows_of(vega: dict) -> list[dict]:
    (source,) = [d for d in vega["data"] if "values" in d]
    return source["values"]


def test_charts_compiled_to_vega_carry_their_own_rows(client: TestClient) -> None:
    last_week = {"from": "2026-11-23", "to": "2026-11-29"}
    for name in ("trend", "top-out-of-stock", "scans-done", "league"):
        specs = {}
        for period in (RANGE, last_week):
            lite = client.get(f"{API}/charts/{name}", params=period).json()
            vega = client.get(f"{API}/charts/{name}", params=period | {"format": "vega"}).json()
            assert "vega-lite" in lite["$schema"] and "/vega/v6" in vega["$schema"], name
            assert vega["marks"], name
            # The compiled structure is kept between requests; the rows are each request's own.
            assert _rows_of(vega) == lite["data"]["values"], name
            specs[period["from"]] = _rows_of(vega)
        assert specs[RANGE["from"]] != specs[last_week["from"]], name
    answer = client.get(f"{API}/charts/trend", params={"format": "svg"})
    assert answer.status_code == 422 and "format" in answer.text


def test_dashboard_page_has_no_inline_script(client: TestClient) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers.get("Content-Security-Policy", "")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    for name in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "dashboard.js"):
        assert client.get(f"/dashboard/assets/{name}").status_code == 200
    assert client.get("/dashboard/assets/..%2Fapp.py").status_code == 404
