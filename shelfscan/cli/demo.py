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
        compare_with_truth,
        demo_planograms,
        seed_demo_store,
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

    header = f"{'bay':<10} {'v':>2} {'result':<12} {'ok':>4} {'gap':>4} {'mispl':>5} {'unexp':>5}"
    typer.echo(f"{header} {'OSA':>5} {'OOS':>5} {'plan':>5} {'actions':>7}  annotated photo")
    comparisons = {}
    for code, planogram in chosen.items():
        photo = PHOTO_DIR / f"{code}.jpg"
        analysis = analyzer(load_image(photo.read_bytes()), planogram, candidates=planograms)
        paths = write_analysis_outputs(analysis, out, stem=code)
        report = analysis.report
        comparisons[code] = compare_with_truth(report.facings, PHOTO_DIR / f"{code}.truth.json")
        c, s = report.counts, report.scores
        result = "done" if report.trust is None or report.trust.conclusive else "INCONCLUSIVE"
        typer.echo(
            f"{code:<10} {versions[code]:>2} {result:<12} {c.ok:>4} {c.gap:>4} {c.misplaced:>5} "
            f"{c.unexpected:>5} {_pct(s.on_shelf_availability):>5} "
            f"{_pct(s.out_of_stock_rate):>5} {_pct(s.planogram_compliance):>5} "
            f"{len(report.actions):>7}  {paths['annotated']}"
        )
        if report.trust is not None and not report.trust.conclusive:
            typer.echo(f"  INCONCLUSIVE: {report.trust.instruction}")
    typer.echo("")
    typer.echo("Agreement with the rendered truth (agreed/facings per true status; in view =")
    typer.echo("in frame and judged; false gap = a gap reported where a product stands):")
    for code, comparison in comparisons.items():
        if comparison is None:
            continue
        typer.echo(
            f"{code:<10} {comparison.status_line()}; in view {comparison.agreed}/"
            f"{comparison.in_view} = {_pct(comparison.agreement)}; "
            f"not judged (partly in view) {comparison.unjudged}; "
            f"false gaps {len(comparison.false_gaps)}"
            + (f" ({', '.join(comparison.false_gaps)})" if comparison.false_gaps else "")
        )
    typer.echo(f"reports in {out}/ (<bay>.report.json, .report.txt, .annotated.jpg)")
    _fill_demo_chain(url)


def _fill_demo_chain(url: str) -> None:
    """A synthetic chain (20 stores × 8 weeks) so that /dashboard shows something at once."""
    from shelfscan.analytics.synth_chain import ChainSpec, synth_chain
    from shelfscan.db.session import session_scope

    with session_scope(url) as session:
        result = synth_chain(session, ChainSpec(stores=20, bays=6, weeks=8))
    typer.echo(
        f"dashboard data: synthetic chain of {result.stores} stores, {result.scans} scans "
        "(shelfscan serve, then /dashboard)"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
