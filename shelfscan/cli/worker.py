"""``shelfscan worker``: a Celery worker that analyses uploaded scans (needs a broker)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Background scan analysis.", no_args_is_help=False)


@app.command()
def worker(
    concurrency: int | None = typer.Option(
        None, min=1, help="Scans analysed at once; default SHELFSCAN_WORKER_CONCURRENCY."
    ),
    queue: str | None = typer.Option(None, help="Queue to consume; default SHELFSCAN_SCAN_QUEUE."),
    pool: str = typer.Option(
        "prefork", help="prefork (a process per slot, the default), threads or solo."
    ),
    loglevel: str = typer.Option("INFO", help="Celery log level."),
) -> None:
    """Consume scans from SHELFSCAN_BROKER_URL (Redis) and analyse them.

    Tasks are acknowledged only when done, so a worker killed mid-scan loses nothing: the scan
    is delivered again, or re-queued by the reaper once its lease expires.
    """
    from shelfscan.settings import Settings as JobSettings
    from shelfscan.settings import get_settings

    settings = get_settings()
    if not settings.broker_url:
        typer.echo(
            "SHELFSCAN_BROKER_URL is not set: without a broker, scans are analysed inside "
            "`shelfscan serve` and no separate worker is needed.",
            err=True,
        )
        raise typer.Exit(2)
    from shelfscan.jobs.celery_app import app as celery_app

    celery_app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            f"--queues={queue or JobSettings().scan_queue}",
            f"--pool={pool}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


if __name__ == "__main__":
    app()
