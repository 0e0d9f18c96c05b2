"""When must a scan refuse to answer? Good and bad photos through the whole chain, and the
trust check's thresholds (``shelfscan.compliance.trust``) measured against them.

Good cases: every demo bay's own photo (the shipped demo model), the real Azure sample (its
recorded custom-model boxes) and the synthetic scenarios of ``compliance_scenarios.py`` at every
difficulty. Bad cases, for every demo bay: a blank grey image, noise, a picture that is no
shelf, the bay's photo upside down, 80 % covered (two ways), severely blurred, very dark, and
every other bay's photo; plus the demo photos against the Azure sample's planogram and the
Azure sample against every demo planogram. Every bad case must end inconclusive (so no gap or
misplacement is reported) and every good one conclusive.

Prints one line per case, each figure's distribution over the good and the bad cases, and for
every threshold: its value, the closest good case (the margin before good photos are refused),
the bad cases it is the first check to catch and the largest of their values, and the midpoint
between the two (where a re-measured threshold should go). Exits 1 when a case ends on the
wrong side.

    .venv/bin/python benchmarks/inconclusive.py            # ~30 s on a laptop CPU
    .venv/bin/python benchmarks/inconclusive.py --cache /tmp/shelfscan-inconclusive
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compliance_scenarios import LEVELS, make_scenario  # noqa: E402

from shelfscan.compliance.engine import match_planogram  # noqa: E402
from shelfscan.compliance.report import ComplianceReport  # noqa: E402
from shelfscan.compliance.trust import (  # noqa: E402
    TrustReason,
    TrustThresholds,
    TrustVerdict,
    assess,
)
from shelfscan.demo import PHOTO_DIR, demo_planograms  # noqa: E402
from shelfscan.detection.replay import (  # noqa: E402
    detections_from_document,
    detections_to_document,
)
from shelfscan.detections import Detections  # noqa: E402
from shelfscan.imaging.quality import assess_quality  # noqa: E402
from shelfscan.pipeline import analyze_detections  # noqa: E402
from shelfscan.planogram.azure_json import import_azure_planogram  # noqa: E402
from shelfscan.planogram.model import Planogram  # noqa: E402
from shelfscan.settings import AZURE_SAMPLE_DIR  # noqa: E402

SAMPLE_DATA = ROOT / "tests" / "compliance" / "data"
PREVIEW_LONG_SIDE = 1024  # what upload validation hands the quality check


@dataclass
class Case:
    name: str
    good: bool
    planogram: Planogram
    detections: Detections
    quality: dict[str, Any] | None
    report: ComplianceReport | None = None
    verdict: TrustVerdict | None = None
    # Bad cases: the reasons that would send the clerk to do the right thing.
    expected: frozenset[TrustReason] = frozenset()
    # Wrong-bay cases among the demo bays: the bay the photo really shows.
    true_bay: str | None = None


# --- pictures that are not a readable shelf -------------------------------------------------


def grey(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    return Image.new("RGB", photo.size, (128, 128, 128))


def noise(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = photo.size
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def not_a_shelf(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A gradient sky with coloured discs: edges and colour, but nothing standing on shelves."""
    w, h = photo.size
    ramp = np.linspace(0, 1, h)[:, None, None]
    top, bottom = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
    sky = (top * (1 - ramp) + bottom * ramp).repeat(w, axis=1).astype(np.uint8)
    picture = Image.fromarray(sky)
    draw = ImageDraw.Draw(picture)
    for _ in range(25):
        r = float(rng.uniform(0.03, 0.15)) * min(w, h)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=(0, 0, 0), width=3)
    return picture


def upside_down(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    return photo.rotate(180)


def covered_left(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """80 % of the photo behind something dark (a trolley, a person) from the left."""
    covered = photo.copy()
    w, h = photo.size
    ImageDraw.Draw(covered).rectangle([0, 0, int(0.8 * w), h], fill=(45, 42, 40))
    return covered


def covered_bottom(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """80 % of the photo behind something light (a sheet of packaging) from the bottom."""
    covered = photo.copy()
    w, h = photo.size
    ImageDraw.Draw(covered).rectangle([0, int(0.2 * h), w, h], fill=(205, 195, 180))
    return covered


def blurred(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    # A radius of 0.6 % of the width: the products' names are gone, the packs still show.
    return photo.filter(ImageFilter.GaussianBlur(0.006 * photo.width))


def dark(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageEnhance.Brightness(photo).enhance(0.1)


def close_up(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A corner of the bay, a fifth of it, taken close (the phone held too near)."""
    w, h = photo.size
    keep_w, keep_h = int(0.45 * w), int(0.45 * h)
    x0 = int(rng.integers(0, w - keep_w))
    y0 = int(rng.integers(0, h - keep_h))
    return photo.crop((x0, y0, x0 + keep_w, y0 + keep_h)).resize((w, h), Image.Resampling.BICUBIC)


BAD_RENDERS: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "grey": grey,
    "noise": noise,
    "not-a-shelf": not_a_shelf,
    "upside-down": upside_down,
    "covered-80%-left": covered_left,
    "covered-80%-bottom": covered_bottom,
    "blurred": blurred,
    "dark": dark,
    "close-up": close_up,
}

R = TrustReason
EXPECTED: dict[str, frozenset[TrustReason]] = {
    "grey": frozenset({R.NO_SHELF, R.TOO_DARK_OR_BLURRED}),
    "noise": frozenset({R.NO_SHELF}),
    "not-a-shelf": frozenset({R.NO_SHELF}),
    "upside-down": frozenset({R.DOES_NOT_FIT}),
    "covered-80%-left": frozenset({R.VIEW_BLOCKED, R.NO_SHELF}),
    "covered-80%-bottom": frozenset({R.VIEW_BLOCKED, R.NO_SHELF}),
    "blurred": frozenset({R.TOO_DARK_OR_BLURRED}),
    "dark": frozenset({R.TOO_DARK_OR_BLURRED}),
    # The demo model finds next to nothing on packs enlarged past its training scale.
    "close-up": frozenset({R.TOO_LITTLE_IN_VIEW, R.NO_SHELF}),
    "other bay": frozenset({R.WRONG_BAY}),
    "part of the bay": frozenset({R.TOO_LITTLE_IN_VIEW}),
}

# Synthetic photos of a small part of the bay (a shelf or two, or a few facings across).
PART_OF_THE_BAY = replace(
    LEVELS["realistic"], name="part", partial_rate=1.0, partial_keep=(0.2, 0.3)
)


# --- running the chain ----------------------------------------------------------------------


class Reader:
    """The shipped demo model with its label map (what ``shelfscan demo`` uses), plus an
    optional cache of its raw detections keyed by the image's pixels."""

    def __init__(self, cache: Path | None) -> None:
        from shelfscan.detection.factory import get_detector, label_map_for
        from shelfscan.settings import Settings

        settings = Settings(_env_file=None)
        self.detector = get_detector(settings)
        self.label_map = label_map_for(settings)
        self.cache = cache
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)

    def detect(self, image: Image.Image) -> Detections:
        key = hashlib.sha1(image.tobytes() + str(self.detector.info).encode()).hexdigest()
        path = self.cache / f"{key}.json" if self.cache is not None else None
        if path is not None and path.exists():
            return detections_from_document(json.loads(path.read_text()))
        detections = self.detector.detect(image)
        if path is not None:
            path.write_text(json.dumps(detections_to_document(detections)))
        return detections

    def case(
        self,
        name: str,
        good: bool,
        planogram: Planogram,
        image: Image.Image,
        raw: Detections,
        quality: dict[str, Any] | None,
        expected: frozenset[TrustReason] = frozenset(),
        true_bay: str | None = None,
    ) -> Case:
        """Through the pipeline's own matching step (label map, match, annotation)."""
        analysis = analyze_detections(image, planogram, raw, label_map=self.label_map)
        return Case(
            name,
            good,
            planogram,
            analysis.detections,
            quality,
            analysis.report,
            expected=expected,
            true_bay=true_bay,
        )


def quality_of(image: Image.Image) -> dict[str, Any]:
    """The upload check's quality metrics, on a preview made the way validation makes it."""
    preview = image.copy()
    preview.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE), Image.Resampling.BILINEAR)
    return assess_quality(preview, full_width=image.width, full_height=image.height).as_dict()


def jpeg_round_trip(image: Image.Image) -> Image.Image:
    """As a phone would upload it."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=88)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def build_cases(reader: Reader, synthetic_per_level: int, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    bays = demo_planograms()
    photos = {bay: Image.open(PHOTO_DIR / f"{bay}.jpg").convert("RGB") for bay in bays}
    raw = {bay: reader.detect(photo) for bay, photo in photos.items()}
    qualities = {bay: quality_of(photo) for bay, photo in photos.items()}
    cases: list[Case] = []

    # Good: each demo bay's own photo.
    for bay, planogram in bays.items():
        cases.append(
            reader.case(f"demo {bay}", True, planogram, photos[bay], raw[bay], qualities[bay])
        )

    # Good: the real Azure sample (a phone photo and the Azure custom model's boxes).
    sample_planogram = import_azure_planogram(
        json.loads((SAMPLE_DATA / "sample_planogram.json").read_text())
    )
    sample_detections = Detections.from_azure_result(
        json.loads((SAMPLE_DATA / "sample_customized_recognition_result.json").read_text())
    )
    sample_photo = AZURE_SAMPLE_DIR / "sample_image.jpg"
    sample_quality = (
        quality_of(Image.open(sample_photo).convert("RGB")) if sample_photo.exists() else None
    )

    def sample_case(name: str, good: bool, planogram: Planogram) -> Case:
        report = match_planogram(planogram, sample_detections)
        return Case(name, good, planogram, sample_detections, sample_quality, report)

    cases.append(sample_case("azure sample", True, sample_planogram))

    # Good: synthetic scenes (detections straight from the scenario, no photo).
    for level_name, level in LEVELS.items():
        for k in range(synthetic_per_level):
            scenario = make_scenario(np.random.default_rng(seed * 1000 + k), level)
            report = match_planogram(scenario.planogram, scenario.detections)
            cases.append(
                Case(
                    f"synthetic {level_name} #{k}",
                    True,
                    scenario.planogram,
                    scenario.detections,
                    None,
                    report,
                )
            )

    for bay, planogram in bays.items():
        # Bad: renders of the bay's photo that nobody can read the bay from.
        for render_name, render in BAD_RENDERS.items():
            image = jpeg_round_trip(render(photos[bay], rng))
            cases.append(
                reader.case(
                    f"{render_name} for {bay}",
                    False,
                    planogram,
                    image,
                    reader.detect(image),
                    quality_of(image),
                    EXPECTED[render_name],
                )
            )
        # Bad: another bay's photo.
        for other in bays:
            if other != bay:
                cases.append(
                    reader.case(
                        f"{other} photo for {bay}",
                        False,
                        planogram,
                        photos[other],
                        raw[other],
                        qualities[other],
                        EXPECTED["other bay"],
                        true_bay=other,
                    )
                )

    # Bad: the demo photos against the Azure sample's planogram, and the reverse.
    for bay in bays:
        cases.append(
            reader.case(
                f"{bay} photo for azure sample",
                False,
                sample_planogram,
                photos[bay],
                raw[bay],
                qualities[bay],
                EXPECTED["other bay"],
                true_bay=bay,
            )
        )
    for bay, planogram in bays.items():
        case = sample_case(f"azure sample photo for {bay}", False, planogram)
        case.expected = EXPECTED["other bay"]
        cases.append(case)

    # Bad: synthetic photos of a fifth to a third of a bay.
    for k in range(max(4, synthetic_per_level // 2)):
        scenario = make_scenario(np.random.default_rng(seed * 2000 + k), PART_OF_THE_BAY)
        report = match_planogram(scenario.planogram, scenario.detections)
        cases.append(
            Case(
                f"synthetic part of the bay #{k}",
                False,
                scenario.planogram,
                scenario.detections,
                None,
                report,
                expected=EXPECTED["part of the bay"],
            )
        )
    return cases


# --- the thresholds against the measurements ------------------------------------------------

# (threshold field, figure field, the reason the check gives), in the order ``assess`` checks.
# ``min_box_density`` only splits the label check's verdicts (no shelf / wrong bay): see below.
CHECKS: list[tuple[str, str, TrustReason]] = [
    ("min_brightness", "brightness", TrustReason.TOO_DARK_OR_BLURRED),
    ("min_sharpness", "sharpness", TrustReason.TOO_DARK_OR_BLURRED),
    ("min_detections", "product_boxes", TrustReason.NO_SHELF),
    ("min_label_share", "label_share", TrustReason.WRONG_BAY),
    ("min_explained_share", "explained_share", TrustReason.DOES_NOT_FIT),
    ("min_in_view_fraction", "in_view_fraction", TrustReason.TOO_LITTLE_IN_VIEW),
    ("min_filled_share", "filled_share", TrustReason.VIEW_BLOCKED),
]
# Figures spanning orders of magnitude: their midpoints are geometric.
GEOMETRIC = {"brightness", "sharpness", "product_boxes"}
FIGURES = [
    ("product_boxes", "boxes"),
    ("box_density", "dens"),
    ("label_share", "label"),
    ("product_overlap", "jacc"),
    ("explained_share", "expl"),
    ("inside_share", "inside"),
    ("label_inlier_share", "inlier"),
    ("in_view_fraction", "view"),
    ("filled_share", "filled"),
    ("brightness", "bright"),
    ("sharpness", "sharp"),
]


def _fmt(value: float | None) -> str:
    if value is None:
        return "   -  "
    if isinstance(value, int):
        return f"{value:6d}"
    return f"{value:6.3f}" if abs(value) < 10 else f"{value:6.1f}"


def _caught_by(case: Case, limits: TrustThresholds) -> str | None:
    """The first check whose threshold this case's figures fall below."""
    assert case.verdict is not None
    figures = case.verdict.figures
    for threshold_name, figure_name, _ in CHECKS:
        value = getattr(figures, figure_name)
        if value is not None and value < getattr(limits, threshold_name):
            return threshold_name
    return None


def _midpoint(figure: str, low: float, high: float) -> float:
    if figure in GEOMETRIC and low > 0 and high > 0:
        return (low * high) ** 0.5
    return (low + high) / 2


def print_cases(cases: list[Case]) -> None:
    header = " ".join(f"{short:>6}" for _, short in FIGURES)
    print(f"{'case':<34} {'want':<5} {header}  verdict")
    for case in cases:
        assert case.verdict is not None and case.report is not None
        verdict = case.verdict
        text = "conclusive" if verdict.conclusive else f"inconclusive: {verdict.reason}"
        if verdict.likely_bay is not None:
            text += f" (likely {verdict.likely_bay.bay})"
        if not verdict.conclusive:
            counts = case.report.counts
            text += f"; {counts.gap + counts.misplaced} fixes withheld"
        if verdict.conclusive != case.good:
            text += "   <-- WRONG"
        elif not case.good and verdict.reason not in case.expected:
            text += f"   (reason: want {'/'.join(sorted(case.expected))})"
        values = " ".join(_fmt(getattr(verdict.figures, name)) for name, _ in FIGURES)
        print(f"{case.name:<34} {'good' if case.good else 'bad':<5} {values}  {text}")


def print_distributions(cases: list[Case]) -> None:
    print("\nFigure distributions (min / 10th pct / median / max; n = cases where it applies)")
    for name, _ in FIGURES:
        line = f"  {name:<20}"
        for good in (True, False):
            values = sorted(
                float(v)
                for c in cases
                if c.good is good and (v := getattr(c.verdict.figures, name)) is not None
            )
            label = "good" if good else "bad "
            if not values:
                line += f"  {label} n=  0" + " " * 28
                continue
            p10 = values[int(0.1 * (len(values) - 1))]
            line += (
                f"  {label} n={len(values):>3} {_fmt(values[0])} {_fmt(p10)} "
                f"{_fmt(statistics.median(values))} {_fmt(values[-1])}"
            )
        print(line)


def print_thresholds(cases: list[Case], limits: TrustThresholds) -> None:
    print(
        "\nThresholds (a figure below its threshold makes the scan inconclusive). 'closest good':"
        "\nthe lowest value over the good cases; 'caught': the bad cases this check is the first"
        "\nto refuse, and the highest value among them; 'midpoint': where the threshold sits"
        "\nfurthest from both (geometric for brightness, sharpness and box counts)."
    )
    good_cases = [c for c in cases if c.good]
    bad_cases = [c for c in cases if not c.good]
    for threshold_name, figure_name, reason in CHECKS:
        threshold = getattr(limits, threshold_name)
        good_values = [
            (float(v), c.name)
            for c in good_cases
            if (v := getattr(c.verdict.figures, figure_name)) is not None
        ]
        caught = [
            (float(getattr(c.verdict.figures, figure_name)), c.name)
            for c in bad_cases
            if _caught_by(c, limits) == threshold_name
        ]
        print(f"  {threshold_name:<21} = {threshold:<6g} ({reason.value})")
        lowest = min(good_values) if good_values else None
        if lowest is not None:
            print(
                f"      closest good: {lowest[0]:.4g} ({lowest[1]}), "
                f"margin {lowest[0] - threshold:+.4g}"
            )
        if caught:
            highest = max(caught)
            line = (
                f"      caught {len(caught)} bad: highest {highest[0]:.4g} ({highest[1]}), "
                f"margin {threshold - highest[0]:+.4g}"
            )
            if lowest is not None:
                line += f"; midpoint {_midpoint(figure_name, highest[0], lowest[0]):.4g}"
            print(line)
        else:
            print("      caught no bad case (a backstop behind the checks before it)")

    # The label check's split: stray foreign boxes (no shelf) against another bay's products.
    refused = [c for c in bad_cases if _caught_by(c, limits) == "min_label_share"]
    stray = [c.verdict.figures.box_density for c in refused if R.WRONG_BAY not in c.expected]
    other_bay = [c.verdict.figures.box_density for c in refused if R.WRONG_BAY in c.expected]
    threshold = limits.min_box_density
    print(f"  {'min_box_density':<21} = {threshold:<6g} (no_shelf below it, else wrong_bay)")
    if stray:
        margin = threshold - max(stray)
        print(f"      stray boxes (want no_shelf): highest {max(stray):.4g}, margin {margin:+.4g}")
    if other_bay:
        margin = min(other_bay) - threshold
        print(
            f"      another bay (want wrong_bay): lowest {min(other_bay):.4g}, margin {margin:+.4g}"
        )
    if stray and other_bay:
        print(f"      midpoint {(max(stray) + min(other_bay)) / 2:.4g}")


def print_summary(cases: list[Case]) -> int:
    good_cases = [c for c in cases if c.good]
    bad_cases = [c for c in cases if not c.good]
    refused = sum(not c.verdict.conclusive for c in bad_cases)
    accepted = sum(c.verdict.conclusive for c in good_cases)
    reasons: dict[str, int] = {}
    for c in bad_cases:
        if not c.verdict.conclusive:
            reasons[str(c.verdict.reason)] = reasons.get(str(c.verdict.reason), 0) + 1
    right_reason = sum(c.verdict.reason in c.expected for c in bad_cases)
    named = [c for c in bad_cases if c.true_bay is not None]
    named_right = sum(
        c.verdict.likely_bay is not None and c.verdict.likely_bay.bay == c.true_bay for c in named
    )
    print(
        f"\nbad cases inconclusive: {refused}/{len(bad_cases)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
        + f"); with the reason that sends the clerk the right way: {right_reason}/{len(bad_cases)}"
    )
    print(f"other bays' photos naming the bay they show: {named_right}/{len(named)}")
    print(f"good cases conclusive: {accepted}/{len(good_cases)}")
    real = [c for c in good_cases if c.name.startswith(("demo ", "azure"))]
    print(
        f"  of which the demo bays and the real Azure sample: "
        f"{sum(c.verdict.conclusive for c in real)}/{len(real)}"
    )
    return (len(bad_cases) - refused) + (len(good_cases) - accepted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=10, help="scenarios per difficulty")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--cache", type=Path, default=None, help="keep raw detections here")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the label resolver's "classes not in this planogram"

    started = time.perf_counter()
    reader = Reader(args.cache)
    cases = build_cases(reader, args.synthetic, args.seed)
    limits = TrustThresholds()
    # The store's bays, for naming the bay a wrong-bay photo shows.
    store = dict(demo_planograms())
    for case in cases:
        assert case.report is not None
        candidates = (
            store
            if case.planogram.id in {p.id for p in store.values()} or (case.true_bay is not None)
            else None
        )
        case.verdict = assess(
            case.report, case.detections, case.planogram, case.quality, candidates=candidates
        )
    print(
        f"{sum(c.good for c in cases)} good and {sum(not c.good for c in cases)} bad cases, "
        f"detector {reader.detector.info}, {time.perf_counter() - started:.0f} s\n"
    )
    print(
        "Thresholds in force (shelfscan.compliance.trust.TrustThresholds): "
        + ", ".join(f"{f.name}={getattr(limits, f.name)}" for f in fields(limits))
        + "\n"
    )
    print_cases(cases)
    print_distributions(cases)
    print_thresholds(cases, limits)
    wrong = print_summary(cases)
    if wrong:
        print(f"\n{wrong} case(s) on the wrong side of the thresholds")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
