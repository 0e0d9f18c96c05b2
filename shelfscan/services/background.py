"""The background scan runner as the web app sees it: started with the app, stopped with it.

The runner itself (in-process threads, or Celery when a broker is configured) lives in
:mod:`shelfscan.jobs`, which drives the scan lifecycle through :mod:`shelfscan.services.scans`;
it is imported only when started, so the API does not depend on the job runners' modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shelfscan.settings import Settings


def start_scan_runner(app: Any, settings: Settings) -> Any:
    """Start the runner; ``app.state.scan_queue`` is what the upload and retry routes use."""
    from shelfscan.jobs import start_background_worker

    return start_background_worker(app, settings)


def stop_scan_runner(app: Any) -> None:
    from shelfscan.jobs import stop_background_worker

    stop_background_worker(app)
