"""Fuzzing the API from its own OpenAPI document (issue 19): schemathesis generates requests for
every operation against the app in-process; no answer may be a server error, use a status the
document does not list, or break its documented schema. Bounded to stay well under a minute."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from shelfscan.api.app import create_app
from shelfscan.db.migrate import upgrade
from shelfscan.settings import DetectorBackend, Settings
from tests.hardening.conftest import admin_headers

EXAMPLES = int(os.environ.get("SHELFSCAN_FUZZ_EXAMPLES", "4"))
_DATA = Path(tempfile.mkdtemp(prefix="shelfscan-fuzz-"))
_SETTINGS = Settings(
    _env_file=None,
    data_dir=_DATA,
    database_url=f"sqlite:///{(_DATA / 'fuzz.db').as_posix()}",
    detector_backend=DetectorBackend.REPLAY,
    migrate_on_start=False,
    load_model_on_start=False,
    log_level="WARNING",
)
upgrade(_SETTINGS.resolved_database_url)
APP = create_app(_SETTINGS)
HEADERS = admin_headers(_SETTINGS)


async def without_lifespan(scope, receive, send):  # type: ignore[no-untyped-def]
    """The app without its start-up (migrations, workers, warm-up): the test client would run
    it for every generated request. The database is migrated above, once."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await APP(scope, receive, send)


schema = schemathesis.openapi.from_asgi("/openapi.json", without_lifespan)

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.mark.filterwarnings("ignore")
@schema.exclude(path_regex="^/(docs|redoc|web|static|auth)").parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_documented_answers(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=HEADERS, checks=CHECKS)
