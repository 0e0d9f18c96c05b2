"""Fill around a photo's scene (a turned photo's black corners, a stitched panorama's ragged
ends) is out of view: a facing drawn on it is not visible, never a gap."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shelfscan.compliance.engine import match_planogram
from shelfscan.compliance.report import FacingStatus
from shelfscan.imaging.decode import Photo
from shelfscan.imaging.fill import find_fill
from shelfscan.pipeline import analyze_detections, scene_of
from tests.compliance.helpers import make_planogram, shoot

PHOTOS = Path(__file__).resolve().parents[1] / "planograms" / "demo-store" / "photos"


def shelf_texture(width: int, height: int, seed: int = 0) -> Image.Image:
    """Busy, never-black pixels, as a shelf of packs is."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(40, 230, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_a_photo_turned_in_an_editor_has_its_black_corners_found():
    photo = shelf_texture(900, 600)
    turned = photo.rotate(8, resample=Image.Resampling.BILINEAR)  # black corners, same frame
    mask = find_fill(np.asarray(turned), turned.size)
    assert mask is not None
    # Each corner triangle of a w×h frame turned by a: ≈ (w² + h²)·sin a·cos a / 4 in all.
    a = math.radians(8)
    corners = (900**2 + 600**2) * math.sin(a) * math.cos(a) / 4 / (900 * 600)
    assert mask.shown_share == pytest.approx(1 - corners, abs=0.02)
    top_left = mask.area_shown(np.array([[0.0, 0.0, 30.0, 30.0]]))[0] / 900.0
    centre = mask.area_shown(np.array([[400.0, 250.0, 500.0, 350.0]]))[0] / 10000.0
    assert top_left < 0.5 and centre == pytest.approx(1.0)


def test_jpeg_noise_on_the_fill_does_not_hide_it():
    turned = shelf_texture(900, 600).rotate(-6, resample=Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    turned.save(buffer, format="JPEG", quality=80)
    photo = Photo(buffer.getvalue())
    assert scene_of(photo) is not None


def test_dark_scenery_inside_the_frame_and_black_specks_on_its_edge_are_not_fill():
    image = shelf_texture(900, 600)
    draw = ImageDraw.Draw(image)
    draw.rectangle((300, 200, 600, 400), fill=(0, 0, 0))  # a black shelf strip inside
    draw.rectangle((0, 0, 6, 6), fill=(0, 0, 0))  # a speck at the corner
    assert find_fill(np.asarray(image), image.size) is None


@pytest.mark.parametrize("name", ["cereal", "crackers", "drinks", "mixed"])
def test_the_demo_photos_have_no_fill(name):
    photo = Photo((PHOTOS / f"{name}.jpg").read_bytes())
    assert scene_of(photo) is None


def test_facings_on_a_stitched_panoramas_blank_end_are_not_visible_not_gaps():
    # Two shelves of eight products; the panorama's left end is blank where the stitcher had
    # no picture (a ragged edge, as stitching leaves), so no box stands on the first two
    # facings of either shelf.
    planogram = make_planogram([list("ABCDEFGH"), list("IJKLMNOP")])
    blank = {"S1-01", "S1-02", "S2-01", "S2-02"}
    detections = shoot(planogram, remove=blank)
    width, height = detections.image_width, detections.image_height
    image = shelf_texture(width, height)
    # The blank reaches past the second facing's right edge (units 11 → pixels 120 + 11·40).
    ImageDraw.Draw(image).polygon(
        [(0, 0), (580, 0), (600, height // 2), (570, height), (0, height)], fill=(0, 0, 0)
    )
    plain = match_planogram(planogram, detections)
    assert {plain.facing(f).status for f in blank} == {FacingStatus.GAP}  # what fill misled

    report = analyze_detections(image, planogram, detections).report

    for facing_id in blank:
        facing = report.facing(facing_id)
        assert facing.status is FacingStatus.NOT_VISIBLE, facing_id
        assert facing.visible_fraction < 0.5
    for facing in report.facings:
        if facing.facing_id not in blank:
            assert facing.status == plain.facing(facing.facing_id).status, facing.facing_id
    assert report.counts.gap == 0


def test_a_photo_that_is_mostly_black_is_a_dark_photo_not_fill():
    image = Image.new("RGB", (800, 600))
    ImageDraw.Draw(image).rectangle((300, 200, 500, 400), fill=(120, 120, 120))
    assert find_fill(np.asarray(image), image.size) is None


def test_a_transparent_canvas_is_fill_whatever_colour_it_hides():
    # A panorama exported as PNG: the stitcher's blank ends are transparent white.
    canvas = Image.new("RGBA", (900, 600), (255, 255, 255, 0))
    canvas.paste(shelf_texture(700, 600).convert("RGBA"), (100, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    mask = scene_of(Photo(buffer.getvalue()))
    assert mask is not None
    assert mask.shown_share == pytest.approx(700 / 900, abs=0.01)


def test_a_photo_matched_again_looks_for_its_fill_once(monkeypatch):
    """A scan of several photos matches each photo again while placing it: the fill found the
    first time is the scene every later match sees."""
    import shelfscan.imaging.fill as fill

    turned = shelf_texture(900, 600).rotate(-6, resample=Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    turned.save(buffer, format="JPEG", quality=80)
    photo = Photo(buffer.getvalue())
    calls = []
    real = fill.find_fill
    monkeypatch.setattr(fill, "find_fill", lambda *a: calls.append(1) or real(*a))
    first = scene_of(photo)
    again = scene_of(photo)
    assert first is not None and again is first
    assert len(calls) == 1
