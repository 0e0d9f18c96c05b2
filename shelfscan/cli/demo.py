"""``shelfscan demo``: the whole chain on the demo store, on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="Folder for the outputs."),
    bays: list[str] = typer.Option(
        [], "--bay", help="Only these bays (default: every bay of the demo store)."
    ),
) -> None:
    """Publish the demo store's planograms, assign them to its bays, analyse one photo per bay
    with the configured detector (the shipped demo model by default) and write each bay's
    report, readable summary and annotated photo to OUT."""
    from shelfscan.cli.analyze import write_analysis_outputs
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope
    from shelfscan.demo import (
        DEMO_STORE_CODE,
        PHOTO_DIR,
        demo_planograms,
        seed_demo_store,
        truth_agreement,
    )
    from shelfscan.detection.base import DetectorError
    from shelfscan.images import load_image
    from shelfscan.pipeline import Analyzer
    from shelfscan.settings import get_settings

    settings = get_settings()
    planograms = demo_planograms()
    unknown = sorted(set(bays) - set(planograms))
    if unknown:
        typer.echo(f"error: no such demo bay: {', '.join(unknown)}; have {', '.join(planograms)}")
        raise typer.Exit(2)
    chosen = {code: planograms[code] for code in (bays or planograms)}

    url = settings.resolved_database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    with session_scope(url) as session:
        versions = seed_demo_store(session, planograms)
    try:
        analyzer = Analyzer.from_settings(settings)
    except DetectorError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"store {DEMO_STORE_CODE}: {len(chosen)} bays; detector {analyzer.detector.info}")

    header = f"{'bay':<10} {'v':>2} {'ok':>4} {'gap':>4} {'mispl':>5} {'unexp':>5}"
    typer.echo(f"{header} {'position':>8} {'avail':>6} {'truth':>6}  annotated photo")
    for code, planogram in chosen.items():
        photo = PHOTO_DIR / f"{code}.jpg"
        analysis = analyzer(load_image(photo.read_bytes()), planogram)
        paths = write_analysis_outputs(analysis, out, stem=code)
        report = analysis.report
        agreement = truth_agreement(report.facings, PHOTO_DIR / f"{code}.truth.json")
        c, s = report.counts, report.scores
        typer.echo(
            f"{code:<10} {versions[code]:>2} {c.ok:>4} {c.gap:>4} {c.misplaced:>5} "
            f"{c.unexpected:>5} {_pct(s.position_compliance):>8} {_pct(s.availability):>6} "
            f"{_pct(agreement):>6}  {paths['annotated']}"
        )
    typer.echo(f"reports in {out}/ (<bay>.report.json, .report.txt, .annotated.jpg)")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
