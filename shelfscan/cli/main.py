"""The ``shelfscan`` command."""

from __future__ import annotations

import typer

from shelfscan import __version__
from shelfscan.cli import analyze, db, demo, match, planogram, stores, train, worker

app = typer.Typer(
    name="shelfscan",
    help="Retail shelf analytics: detect products in shelf photos, match them to the bay's "
    "planogram and report gaps, misplacements and facings.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(planogram.app, name="planogram")
app.add_typer(stores.app, name="store")
app.command("analyze")(analyze.analyze)
app.command("match")(match.match)
app.command("demo")(demo.demo)
app.command("worker")(worker.worker)
app.command("train")(train.train_command)
app.command("export")(train.export_command)
synth_app = typer.Typer(
    help="Synthetic shelf photos for training and testing.", no_args_is_help=True
)
synth_app.command("render")(train.render_command)
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

    from shelfscan.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        "shelfscan.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_config=None,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    app()
