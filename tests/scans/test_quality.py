from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from shelfscan.imaging.quality import BayScale, assess_quality, estimate_tilt_degrees
from shelfscan.planogram.model import Planogram
from tests.scans.photos import shelf_scene

SCENE = shelf_scene(1024, 768, seed=3)


def _codes(image: Image.Image, **kw: object) -> set[str]:
    quality = assess_quality(image, full_width=4032, full_height=3024, **kw)  # type: ignore[arg-type]
    return {issue.code for issue in quality.issues}


def test_a_good_photo_has_no_issues_and_no_hint() -> None:
    quality = assess_quality(SCENE, full_width=4032, full_height=3024)
    assert quality.ok and quality.issues == [] and quality.retake_hint is None
    assert set(quality.metrics) >= {"brightness", "sharpness", "tilt_deg"}


def test_too_dark() -> None:
    dark = ImageEnhance.Brightness(SCENE).enhance(0.2)
    quality = assess_quality(dark, full_width=4032, full_height=3024)
    assert {i.code for i in quality.issues} == {"too_dark"}
    assert quality.retake_hint and quality.retake_hint.startswith("Retake:")
    assert "light" in quality.retake_hint


def test_too_bright() -> None:
    assert "too_bright" in _codes(ImageEnhance.Brightness(SCENE).enhance(2.6))


@pytest.mark.parametrize("radius", [3, 6])
def test_blurred(radius: int) -> None:
    blurred = SCENE.filter(ImageFilter.GaussianBlur(radius))
    assert _codes(blurred) == {"blurred"}
    sharp = assess_quality(SCENE, full_width=4032, full_height=3024).metrics["sharpness"]
    soft = assess_quality(blurred, full_width=4032, full_height=3024).metrics["sharpness"]
    assert soft < sharp / 5


@pytest.mark.parametrize("degrees", [-9.0, -5.0, 0.0, 2.0, 6.0, 12.0])
def test_tilt_is_measured_from_the_shelf_edges(degrees: float) -> None:
    # Rotate a larger scene and crop its centre so no artificial border edges remain.
    big = shelf_scene(1600, 1200, seed=5)
    rotated = big.rotate(degrees, resample=Image.Resampling.BICUBIC)
    crop = rotated.crop((300, 225, 1300, 975))
    tilt = estimate_tilt_degrees(np.asarray(crop.convert("L"), dtype=np.float32))
    assert tilt is not None and tilt == pytest.approx(degrees, abs=1.0)
    expected = {"tilted"} if abs(degrees) > 4 else set()
    assert _codes(crop) == expected


def test_flat_image_has_no_tilt_estimate() -> None:
    flat = Image.new("RGB", (800, 600), (120, 120, 120))
    assert estimate_tilt_degrees(np.asarray(flat.convert("L"), dtype=np.float32)) is None


def _planogram(bay_width: float, product_width: float) -> Planogram:
    return Planogram.model_validate(
        {
            "id": "p",
            "width": bay_width,
            "height": 60,
            "fixtures": [{"id": "f", "x": 0, "y": 0, "w": bay_width, "h": 10}],
            "products": [
                {"id": "small", "name": "Small", "w": product_width, "h": 10},
                {"id": "unused", "name": "Unused", "w": 0.5, "h": 0.5},
            ],
            "positions": [{"id": "1", "product_id": "small", "fixture_id": "f", "x": 0, "y": 0}],
        }
    )


def test_too_few_pixels_for_the_bay() -> None:
    wide_bay = BayScale.from_planogram(_planogram(bay_width=400, product_width=2))
    assert wide_bay is not None
    # 2/400 of 4032 px is 20 px across for the smallest product: too few.
    quality = assess_quality(SCENE, full_width=4032, full_height=3024, bay=wide_bay)
    assert [i.code for i in quality.issues] == ["too_few_pixels"]
    assert quality.metrics["smallest_facing_px"] == pytest.approx(20.2, abs=0.1)
    assert "closer" in (quality.retake_hint or "")
    narrow_bay = BayScale.from_planogram(_planogram(bay_width=48, product_width=4))
    assert assess_quality(SCENE, full_width=4032, full_height=3024, bay=narrow_bay).ok
