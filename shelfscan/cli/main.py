"""The ``shelfscan`` command."""

from __future__ import annotations

import socket

import typer

from shelfscan import __version__
from shelfscan.cli import (
    analytics,
    analyze,
    audits,
    auth,
    corrections,
    db,
    demo,
    doctor,
    match,
    planogram,
    stores,
    train,
    worker,
)
from shelfscan.cli.errors import CliError, FriendlyErrorsGroup

app = typer.Typer(
    name="shelfscan",
    cls=FriendlyErrorsGroup,
    help="Retail shelf analytics: detect products in shelf photos, match them to the bay's "
    "planogram and report gaps, misplacements and facings.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(planogram.app, name="planogram")
app.add_typer(stores.app, name="store")
app.add_typer(auth.user_app, name="user")
app.add_typer(auth.apikey_app, name="apikey")
app.add_typer(auth.device_app, name="device")
app.add_typer(auth.region_app, name="region")
app.add_typer(audits.app, name="audits")
app.add_typer(corrections.app, name="corrections")
app.command("analyze")(analyze.analyze)
app.command("match")(match.match)
app.command("demo")(demo.demo)
app.command("worker")(worker.worker)
app.command("doctor")(doctor.doctor)
app.command("train")(train.train_command)
app.command("export")(train.export_command)
synth_app = typer.Typer(
    help="Synthetic shelf photos for training and testing.", no_args_is_help=True
)
synth_app.command("render")(train.render_command)
synth_app.command("chain")(analytics.synth_chain_command)
app.add_typer(analytics.app, name="analytics")
app.add_typer(analytics.report_app, name="report")
app.add_typer(synth_app, name="synth")


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Configuration comes from SHELFSCAN_* environment variables (see .env.example)."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 in containers."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    reload: bool = typer.Option(False, help="Reload on code changes (development)."),
) -> None:
    """Run the HTTP API and staff web page (applies database migrations on start)."""
    import uvicorn

    from shelfscan.api.limits import server_options
    from shelfscan.cli.errors import check_database_url
    from shelfscan.settings import get_settings

    settings = get_settings()
    # Before anything is migrated or loaded: a busy port or an unusable URL is one line now,
    # not a migrated database and "startup complete" followed by a bind error.
    ensure_port_free(host, port)
    if settings.database_url:
        check_database_url(settings.database_url)
        if not settings.database_url.startswith("sqlite"):
            from shelfscan.db.migrate import current_revision

            current_revision(settings.database_url)  # unreachable: one line from FriendlyErrors
    uvicorn.run(
        "shelfscan.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_config=None,
        log_level=settings.log_level.lower(),
        **server_options(settings),  # header size and keep-alive bounds (docs/limits.md)
    )


def ensure_port_free(host: str, port: int) -> None:
    """Raise :class:`CliError` if ``host:port`` cannot be bound, binding the way uvicorn does
    (``SO_REUSEADDR``, IPv6 when the host has a colon) so that both agree."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = error.strerror or str(error)
            raise CliError(
                f"cannot listen on {host}:{port} (--host/--port): {reason}; "
                "stop what uses it or choose another --port"
            ) from None


if __name__ == "__main__":
    app()
