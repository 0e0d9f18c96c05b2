"""Compliance analytics: facing verdicts as rows, KPIs computed in the database, the
dashboards' API, BI views, a synthetic chain and weekly reports.

* :mod:`.models` — the fact, dimension and rollup tables;
* :mod:`.facts` — writing a finished scan's facts (the hook in ``services.scans.finish``),
  rebuilding everything from the scans' reports;
* :mod:`.queries` / :mod:`.kpis` — the KPIs, defined once (``docs/kpis.md``), in SQLAlchemy Core;
* :mod:`.scope` — the one seam where access control narrows what a caller sees;
* :mod:`.views` — the ``reporting`` views BI tools read;
* :mod:`.synth_chain` — a synthetic chain for the demo, tests and benchmarks;
* :mod:`.charts` / :mod:`.report` — Vega-Lite specs shared by the pages and the weekly report.
"""
