"""Photo quality checks that tell staff to retake a photo while they are still at the shelf.

All metrics run on the small upright preview made during validation (long side ≈ 1024 px), in
numpy, in a few milliseconds: brightness and clipping, sharpness as the variance of the
Laplacian, pixels available per product facing, and tilt from the dominant near-horizontal
edges (shelf edges and price rails are the strongest horizontal lines in a bay photo).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

# The sharpness metric is computed at this fixed width so thresholds do not depend on the
# phone's resolution.
SHARPNESS_WIDTH = 800


@dataclass(frozen=True)
class QualityThresholds:
    too_dark_mean: float = 50.0
    too_bright_mean: float = 215.0
    clipped_fraction: float = 0.35  # share of pixels at pure black or pure white
    min_sharpness: float = 60.0  # Laplacian variance at SHARPNESS_WIDTH
    min_facing_px: float = 40.0  # smallest product facing, in photo pixels across
    max_tilt_deg: float = 4.0


@dataclass(frozen=True)
class BayScale:
    """How small the smallest facing is relative to the bay, from the planogram."""

    smallest_width_fraction: float
    smallest_height_fraction: float

    @classmethod
    def from_planogram(cls, planogram: Any) -> BayScale | None:
        """From a :class:`shelfscan.planogram.model.Planogram` (duck-typed to stay pure)."""
        used = {position.product_id for position in planogram.positions}
        products = [p for p in planogram.products if p.id in used and p.w > 0 and p.h > 0]
        if not products or planogram.width <= 0 or planogram.height <= 0:
            return None
        return cls(
            smallest_width_fraction=min(p.w for p in products) / planogram.width,
            smallest_height_fraction=min(p.h for p in products) / planogram.height,
        )


@dataclass(frozen=True)
class QualityIssue:
    code: str  # too_dark, too_bright, blurred, too_few_pixels, tilted
    message: str
    value: float
    threshold: float


@dataclass(frozen=True)
class PhotoQuality:
    ok: bool
    issues: list[QualityIssue]
    metrics: dict[str, float]
    retake_hint: str | None = None
    photo: str | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_HINTS = {
    "too_dark": "turn on more light or use the flash",
    "too_bright": "avoid pointing at lights or windows, or tap the shelf to expose for it",
    "blurred": "hold the phone still and tap to focus before taking the photo",
    "too_few_pixels": "step closer, or photograph the bay in two halves",
    "tilted": "hold the phone level with the shelf edges",
}


def assess_quality(
    preview: Image.Image,
    *,
    full_width: int,
    full_height: int,
    bay: BayScale | None = None,
    thresholds: QualityThresholds | None = None,
    photo: str | None = None,
) -> PhotoQuality:
    """Quality metrics and plain-language retake advice for one upright photo."""
    limits = thresholds or QualityThresholds()
    gray = _grayscale(preview)
    issues: list[QualityIssue] = []
    metrics: dict[str, float] = {}

    mean = float(gray.mean())
    clipped_dark = float((gray <= 5).mean())
    clipped_bright = float((gray >= 250).mean())
    metrics.update(brightness=round(mean, 1), clipped_dark=round(clipped_dark, 3))
    metrics["clipped_bright"] = round(clipped_bright, 3)
    if mean < limits.too_dark_mean or clipped_dark > limits.clipped_fraction:
        issues.append(
            QualityIssue("too_dark", "The photo is too dark.", mean, limits.too_dark_mean)
        )
    elif mean > limits.too_bright_mean or clipped_bright > limits.clipped_fraction:
        issues.append(
            QualityIssue("too_bright", "The photo is too bright.", mean, limits.too_bright_mean)
        )

    sharpness = laplacian_variance(gray)
    metrics["sharpness"] = round(sharpness, 1)
    # A very dark photo has little texture anyway; say "dark", not also "blurred".
    if sharpness < limits.min_sharpness and not any(i.code == "too_dark" for i in issues):
        issues.append(
            QualityIssue("blurred", "The photo is blurred.", sharpness, limits.min_sharpness)
        )

    if bay is not None:
        facing_px = min(
            full_width * bay.smallest_width_fraction, full_height * bay.smallest_height_fraction
        )
        metrics["smallest_facing_px"] = round(facing_px, 1)
        if facing_px < limits.min_facing_px:
            issues.append(
                QualityIssue(
                    "too_few_pixels",
                    f"The smallest product would be only {facing_px:.0f} px across.",
                    facing_px,
                    limits.min_facing_px,
                )
            )

    tilt = estimate_tilt_degrees(gray)
    if tilt is not None:
        metrics["tilt_deg"] = round(tilt, 1)
        if abs(tilt) > limits.max_tilt_deg:
            issues.append(
                QualityIssue(
                    "tilted",
                    f"The shelves run {abs(tilt):.0f}° off level.",
                    abs(tilt),
                    limits.max_tilt_deg,
                )
            )

    hint = None
    if issues:
        hint = "Retake: " + "; ".join(_HINTS[issue.code] for issue in issues) + "."
    return PhotoQuality(
        ok=not issues, issues=issues, metrics=metrics, retake_hint=hint, photo=photo
    )


def _grayscale(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian at a fixed width: low means few sharp edges."""
    height, width = gray.shape
    if width != SHARPNESS_WIDTH:
        new_height = max(3, round(height * SHARPNESS_WIDTH / width))
        resized = Image.fromarray(gray).resize(
            (SHARPNESS_WIDTH, new_height), Image.Resampling.BILINEAR
        )
        gray = np.asarray(resized, dtype=np.float32)
    laplacian = (
        gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1]
    )
    return float(laplacian.var())


def estimate_tilt_degrees(
    gray: np.ndarray, *, search_deg: float = 20.0, bin_deg: float = 0.5
) -> float | None:
    """Angle of the dominant near-horizontal edges, positive when they rise to the right.

    A magnitude-weighted histogram of edge orientations (a one-parameter Hough transform):
    only strong edges within ``search_deg`` of horizontal vote, so product artwork's many
    short edges in every direction spread out while long shelf edges pile up in one bin.
    None when too few edges vote to say anything.
    """
    # Smoothing first: on a raw pixel staircase the local gradients lean towards the steps and
    # overstate a small tilt by half again.
    gy, gx = np.gradient(ndimage.gaussian_filter(gray, sigma=2.0))
    magnitude = np.hypot(gx, gy)
    strong = magnitude > max(8.0, float(np.percentile(magnitude, 90)))
    # A horizontal edge has a vertical gradient; its direction is the gradient's, turned 90°.
    angle = np.degrees(np.arctan2(gx[strong], gy[strong]))
    angle = (angle + 90.0) % 180.0 - 90.0  # same line whichever way the gradient points
    votes = np.abs(angle) <= search_deg
    if votes.sum() < 0.002 * gray.size:
        return None
    edges = np.arange(-search_deg, search_deg + bin_deg, bin_deg)
    histogram, _ = np.histogram(angle[votes], bins=edges, weights=magnitude[strong][votes])
    smoothed = np.convolve(histogram, np.array([1.0, 2.0, 3.0, 2.0, 1.0]), mode="same")
    peak = int(np.argmax(smoothed))
    centers = (edges[:-1] + edges[1:]) / 2
    window = slice(max(0, peak - 2), peak + 3)
    weights = histogram[window]
    if weights.sum() <= 0:
        return float(centers[peak])
    return float(np.average(centers[window], weights=weights))
