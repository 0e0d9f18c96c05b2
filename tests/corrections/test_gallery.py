"""The gallery's matching and decision rule (issue 18): one corrected crop teaches a changed
pack across photos, without renaming the boxes of other products."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from shelfscan.corrections.analyzer import PackshotSource
from shelfscan.corrections.gallery import (
    GALLERY_FLOOR,
    GALLERY_LEAD,
    RELABEL_THRESHOLD,
    Gallery,
    GalleryExample,
    GalleryRecogniser,
    crop_variants,
    gallery_choice,
    relabel_with_gallery,
)
from shelfscan.detections import Detections
from shelfscan.planogram.model import Planogram, Product
from shelfscan.synth.recognition import PackshotRecogniser, query_features


def pack(body: str, band: str, logo: str, *, size: tuple[int, int] = (60, 100)) -> Image.Image:
    """A cereal-box front: a coloured body, a band across the upper third, a round logo."""
    w, h = size
    image = Image.new("RGB", size, body)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, h * 0.25, w, h * 0.42), fill=band)
    draw.ellipse((w * 0.25, h * 0.55, w * 0.75, h * 0.85), fill=logo)
    draw.rectangle((w * 0.1, h * 0.05, w * 0.9, h * 0.15), fill="white")
    return image


def another_photo(
    image: Image.Image, light: float, shift: int, cast: tuple[float, float, float] = (1, 1, 1)
) -> Image.Image:
    """The same pack in a later photo: other light and colour cast, the box a little off,
    a little out of focus when cast."""
    lit = np.asarray(ImageEnhance.Brightness(image).enhance(light), np.float32) * cast
    photo = Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8))
    if cast != (1, 1, 1):
        photo = photo.filter(ImageFilter.GaussianBlur(1.5))
    w, h = photo.size
    return photo.crop((shift, shift // 2, w - shift // 2, h))


PACKSHOTS = {
    "red": pack("#c0392b", "#f1c40f", "#ffffff"),  # the catalogue's (stale) design
    "blue": pack("#2c3e50", "#3498db", "#ecf0f1"),
    "green": pack("#27ae60", "#ecf0f1", "#2c3e50"),
}
# The red product's new packaging: re-coloured, nearer the blue product's packshot than its own.
NEW_RED = pack("#34495e", "#e74c3c", "#f39c12")
LATER = ((0.7, 4, (1.1, 1.0, 0.85)), (1.2, 0, (0.9, 1.0, 1.1)), (0.85, 6, (1.0, 1.1, 0.9)))


def test_the_rule_needs_a_clear_lead_over_every_other_packshot() -> None:
    strong = GALLERY_FLOOR + 0.3
    # the box fits no packshot well: the gallery crop explains it better, it decides
    assert gallery_choice({"red": strong}, {"red": 0.1, "blue": strong - GALLERY_LEAD - 0.05})
    # a sibling that fits its own packshot well is not renamed after a close gallery crop
    assert gallery_choice({"red": strong}, {"blue": strong - GALLERY_LEAD + 0.05}) is None
    # a lead over a stranger is not enough: the crop must look like the gallery's
    assert gallery_choice({"red": GALLERY_FLOOR - 0.05}, {"blue": -5.0}) is None
    # without packshots only the absolute threshold decides
    assert gallery_choice({"red": strong}) is None
    assert gallery_choice({"red": RELABEL_THRESHOLD}) == "red"
    # two gallery products about as close: neither decides
    assert gallery_choice({"red": 1.9, "blue": 1.89}) is None


def test_variants_cover_light_framing_and_tilt() -> None:
    crop = PACKSHOTS["blue"]
    variants = crop_variants(crop)
    assert len(variants) == 10
    assert {v.size for v in variants} > {crop.size}  # some framings are tighter
    assert len(crop_variants(crop.resize((6, 9)))) == 2  # too small to move: as is and inset
    example = GalleryExample.from_crop("blue", "Blue", crop)
    assert example.thumbs.shape[0] == example.histograms.shape[0] == example.chromas.shape[0]


def test_one_correction_teaches_a_changed_pack_across_photos() -> None:
    packshots = PackshotRecogniser(PACKSHOTS)
    gallery = Gallery([GalleryExample.from_crop("red", "Red", another_photo(NEW_RED, 1.0, 2))])
    recogniser = GalleryRecogniser(packshots, gallery)
    leads = []
    for light, shift, cast in LATER:
        later = another_photo(NEW_RED, light, shift, cast)
        assert next(iter(packshots.rank(later))) == "blue"  # the stale packshot misleads
        assert next(iter(recogniser.rank(later))) == "red"
        leads.append(gallery.scores(later)["red"])
    assert min(leads) < RELABEL_THRESHOLD  # not alike enough to decide without the packshots
    # the other products keep their (right) names
    for product in ("blue", "green"):
        for light, _, cast in LATER:
            crop = another_photo(PACKSHOTS[product], light, 3, cast)
            assert next(iter(recogniser.rank(crop))) == product


def test_relabel_uses_the_packshots_when_given() -> None:
    later = another_photo(NEW_RED, *LATER[1])
    photo = Image.new("RGB", (200, 120), "#777777")
    photo.paste(later, (10, 10))
    photo.paste(PACKSHOTS["blue"], (120, 10))
    box_red = [10, 10, 10 + later.width, 10 + later.height]
    detections = Detections.build(
        xyxy=np.array([box_red, [120, 10, 180, 110]], float),
        labels=["green", "blue"],
        confidence=[0.6, 0.9],
        image_width=photo.width,
        image_height=photo.height,
    )
    gallery = Gallery([GalleryExample.from_crop("red", "Red", another_photo(NEW_RED, 1.1, 2))])
    # without packshots the crop, a different photo's, is not alike enough to decide alone
    assert not relabel_with_gallery(photo, detections, gallery).renamed
    relabelled = relabel_with_gallery(
        photo, detections, gallery, packshots=PackshotRecogniser(PACKSHOTS)
    )
    assert list(relabelled.detections.labels) == ["red", "blue"]


def test_documents_round_trip_and_version_1_entries_still_load() -> None:
    crop = PACKSHOTS["green"]
    example = GalleryExample.from_crop("green", "Green", crop)
    again = GalleryExample.from_document("green", "Green", example.document())
    query = another_photo(crop, 0.9, 2)
    assert Gallery([again]).example_scores(query) == pytest.approx(
        Gallery([example]).example_scores(query), abs=1e-3
    )
    thumb, histogram, _ = query_features(crop)
    version_1 = {
        "v": 1,
        "thumbs": [thumb.tolist(), thumb.tolist()],
        "histogram": histogram.tolist(),
        "aspect": crop.width / crop.height,
        "chroma": example.chromas[0].tolist(),
    }
    old = GalleryExample.from_document("green", "Green", version_1, entry_id=7)
    assert old.histograms.shape[0] == old.chromas.shape[0] == 2
    assert Gallery([old]).example_scores(crop)[0] == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(ValueError, match="entry 8"):
        GalleryExample.from_document("green", "Green", {"v": 2, "thumbs": [[0.0]]}, entry_id=8)


def test_the_scan_weighs_packshots_only_when_every_product_has_one(tmp_path: Path) -> None:
    products = [Product(id=key, name=f"{key.title()} Flakes", w=6, h=10) for key in ("red", "blue")]
    planogram = Planogram(id="p", width=20, height=20, products=products)
    source = PackshotSource(tmp_path)
    PACKSHOTS["red"].save(tmp_path / "red.png")
    assert source(planogram) is None  # the blue packshot is missing: a sibling unweighed
    PACKSHOTS["blue"].save(tmp_path / "Blue Flakes.jpg")
    fresh = PackshotSource(tmp_path)
    recogniser = fresh(planogram)
    assert recogniser is not None and sorted(recogniser.product_ids) == ["blue", "red"]
    assert fresh(planogram) is recogniser  # kept for the next photo
