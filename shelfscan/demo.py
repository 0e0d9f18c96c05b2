"""The demo store: its planograms (``planograms/demo-store``), one photo per bay
(``planograms/demo-store/photos``, rendered by ``shelfscan.synth`` with known truth) and the
end-to-end run behind ``make demo``."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from shelfscan.planogram.canonical import load_canonical
from shelfscan.planogram.model import Planogram
from shelfscan.settings import PLANOGRAM_LIBRARY

DEMO_STORE_CODE = "DEMO-001"
DEMO_STORE_NAME = "shelfscan demo store"
DEMO_DIR = PLANOGRAM_LIBRARY / "demo-store"
PHOTO_DIR = DEMO_DIR / "photos"
PHOTO_SEED = 20261124  # not a training seed: the demo photos are unseen by the demo model


def demo_planograms(directory: Path = DEMO_DIR) -> dict[str, Planogram]:
    """Bay code (the file stem) → planogram."""
    return {
        path.stem: load_canonical(path.read_bytes()) for path in sorted(directory.glob("*.json"))
    }


def render_demo_photos(
    out_dir: Path = PHOTO_DIR, *, image_size: int = 1600, seed: int = PHOTO_SEED
) -> list[Path]:
    """Render one realistic photo per bay with its truth (``<bay>.truth.json``)."""
    import numpy as np

    from shelfscan.synth.packaging import load_front_faces
    from shelfscan.synth.scene import SceneConfig, ShelfRenderer

    planograms = demo_planograms()
    products = [p for planogram in planograms.values() for p in planogram.products]
    renderer = ShelfRenderer(
        list(planograms.values()),
        load_front_faces(products, search_dirs=[DEMO_DIR]),
        SceneConfig(
            image_size=image_size,
            gap_rate=0.08,
            misplace_rate=0.06,
            neighbour_rate=0.3,
            rotation_deg=1.5,
            perspective=0.03,
            occlusion_rate=0.0,
            jpeg_quality=(88, 88),
        ),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for bay, planogram in planograms.items():
        scene = renderer.render(rng, planogram)
        photo = out_dir / f"{bay}.jpg"
        scene.image.convert("RGB").save(photo, format="JPEG", quality=88, optimize=True)
        (out_dir / f"{bay}.truth.json").write_text(json.dumps(scene.truth_document(), indent=1))
        written.append(photo)
    return written


@dataclass(frozen=True)
class BayResult:
    bay: str
    planogram_version: int
    counts: dict[str, int]
    scores: dict[str, float | None]
    truth_agreement: float | None
    outputs: dict[str, Path]


def seed_demo_store(session: Any, planograms: dict[str, Planogram]) -> dict[str, int]:
    """Publish the planograms, create the store and its bays, and assign each bay its
    planogram (idempotent). Returns bay code → the version in force today."""
    from shelfscan.planogram_store import (
        ConflictError,
        NotFoundError,
        assign_planogram,
        assignment_for_bay,
        create_bay,
        create_store,
        get_bay,
        get_store,
        publish_planogram,
    )

    try:
        store = get_store(session, DEMO_STORE_CODE)
    except NotFoundError:
        store = create_store(session, DEMO_STORE_CODE, DEMO_STORE_NAME, "Demo")
    versions: dict[str, int] = {}
    for bay_code, planogram in planograms.items():
        version = publish_planogram(session, planogram, comment="demo store library")
        try:
            bay = get_bay(session, store, bay_code)
        except NotFoundError:
            bay = create_bay(session, store, bay_code, planogram.name)
        current = assignment_for_bay(session, bay.id, date.today())
        if current is None or current.planogram_version_id != version.id:
            # A bay already re-assigned today keeps the assignment in force.
            with contextlib.suppress(ConflictError):
                assign_planogram(session, bay, version, date.today())
        current = assignment_for_bay(session, bay.id, date.today())
        versions[bay_code] = current.planogram_version.version if current else version.version
    return versions


TRUTH_STATUSES = ("ok", "gap", "misplaced", "not_visible")


@dataclass(frozen=True)
class TruthComparison:
    """A report's verdicts against a rendered photo's truth.

    ``per_status``: truth status → (facings the report agrees on, facings), where a facing
    the truth has out of frame counts as ``not_visible``. Agreement is over the facings *in
    view*: in frame in the truth and judged by the report (not ``not_visible``); ``unjudged``
    counts the in-frame facings the report left unjudged (partly outside the photo, so the
    report says to photograph them). A false gap is a gap reported where the truth has a
    product (ok or misplaced)."""

    per_status: dict[str, tuple[int, int]]
    in_view: int
    agreed: int
    unjudged: int
    false_gaps: list[str]

    @property
    def agreement(self) -> float | None:
        return None if self.in_view == 0 else self.agreed / self.in_view

    def status_line(self) -> str:
        parts = [
            f"{status.replace('_', ' ')} {agreed}/{total}"
            for status, (agreed, total) in self.per_status.items()
        ]
        return ", ".join(parts)


def compare_with_truth(report_facings: list[Any], truth_path: Path) -> TruthComparison | None:
    """``report_facings`` (``FacingResult``s) against ``<bay>.truth.json``; None without one."""
    if not truth_path.exists():
        return None
    truth = {f["facing_id"]: f for f in json.loads(truth_path.read_text())["facings"]}
    per_status = {status: [0, 0] for status in TRUTH_STATUSES}
    in_view = agreed = unjudged = 0
    false_gaps: list[str] = []
    for facing in report_facings:
        expected = truth.get(facing.facing_id)
        if expected is None:
            continue
        want = expected["status"] if expected["in_frame"] else "not_visible"
        got = facing.status.value
        counts = per_status.setdefault(want, [0, 0])
        counts[1] += 1
        counts[0] += got == want
        if expected["in_frame"]:
            if got == "not_visible":
                unjudged += 1
            else:
                in_view += 1
                agreed += got == want
        if got == "gap" and expected["status"] in ("ok", "misplaced"):
            false_gaps.append(facing.facing_id)
    return TruthComparison(
        per_status={k: (v[0], v[1]) for k, v in per_status.items()},
        in_view=in_view,
        agreed=agreed,
        unjudged=unjudged,
        false_gaps=false_gaps,
    )


def truth_agreement(report_facings: list[Any], truth_path: Path) -> float | None:
    """Share of the facings inside the photo whose reported status equals the rendered truth."""
    if not truth_path.exists():
        return None
    truth = {
        f["facing_id"]: f["status"]
        for f in json.loads(truth_path.read_text())["facings"]
        if f["in_frame"]
    }
    compared = [f for f in report_facings if f.facing_id in truth]
    if not compared:
        return None
    return sum(f.status.value == truth[f.facing_id] for f in compared) / len(compared)
