"""``shelfscan analytics …``, ``shelfscan synth chain`` and ``shelfscan report weekly``."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import typer

from shelfscan.cli.errors import CliError

app = typer.Typer(help="Compliance analytics: facts, rollups, BI views.", no_args_is_help=True)
report_app = typer.Typer(help="Reports to send around.", no_args_is_help=True)


def _url() -> str:
    from shelfscan.db.migrate import upgrade
    from shelfscan.settings import get_settings

    url = get_settings().resolved_database_url
    upgrade(url)
    return url


@app.command("rebuild")
def rebuild() -> None:
    """Recompute every analytics table from the finished scans' reports (synthetic facts stay)."""
    from shelfscan.analytics.facts import rebuild as run_rebuild
    from shelfscan.db.session import session_scope

    started = time.perf_counter()
    with session_scope(_url()) as session:
        count = run_rebuild(session)
    typer.echo(f"recorded {count} scans' facts in {time.perf_counter() - started:.1f} s")


def synth_chain_command(
    stores: int = typer.Option(20, min=1, max=5000, help="Stores (S0001, S0002, ...)."),
    bays: int = typer.Option(6, min=1, max=200, help="Bays per store."),
    weeks: int = typer.Option(8, min=1, max=104, help="Weeks of scans, ending yesterday."),
    facings: int = typer.Option(24, min=4, max=200, help="Planned facings per bay."),
    seed: int = typer.Option(7, help="Random seed (the same seed, the same chain)."),
    end: str | None = typer.Option(None, help="Last day, YYYY-MM-DD (default: yesterday)."),
) -> None:
    """Write a synthetic chain's scans as analytics facts (replacing an earlier synthetic run)."""
    from shelfscan.analytics.synth_chain import ChainSpec, synth_chain
    from shelfscan.db.session import session_scope

    try:
        last = date.fromisoformat(end) if end else None
    except ValueError as error:
        raise CliError(f"--end: {error}") from error
    spec = ChainSpec(stores=stores, bays=bays, weeks=weeks, facings=facings, seed=seed, end=last)
    started = time.perf_counter()
    with session_scope(_url()) as session:
        result = synth_chain(session, spec)
    typer.echo(
        f"{result.stores} stores, {result.bays} bays, {result.scans} scans, "
        f"{result.facings} facing rows in {time.perf_counter() - started:.1f} s"
    )


@report_app.command("weekly")
def weekly(
    out: Path = typer.Option(..., "--out", "-o", help="report.pdf, report.html or report.png"),
    region: str | None = typer.Option(None, help="Region code (default: the whole chain)."),
    week_ending: str | None = typer.Option(
        None, help="Last day of the week, YYYY-MM-DD (default: the latest day with scans)."
    ),
) -> None:
    """The week's figures, trend, store league, top out-of-stock products and repeat
    offenders, rendered offline (Altair/Vega-Lite specs through vl-convert)."""
    from shelfscan.analytics import report
    from shelfscan.db.session import session_scope

    if out.suffix.lower() not in report.FORMATS:
        raise CliError(f"--out must end in {', '.join(report.FORMATS)}; got {out.name!r}")
    try:
        last = date.fromisoformat(week_ending) if week_ending else None
    except ValueError as error:
        raise CliError(f"--week-ending: {error}") from error
    with session_scope(_url()) as session:
        try:
            built = report.build(session, region=region, week_ending=last)
        except ValueError as error:
            raise CliError(str(error)) from error
    typer.echo(f"wrote {report.write(built, out)}")
