from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shelfscan.planogram.canonical import load_canonical
from shelfscan.planogram.loader import load_planogram_file
from shelfscan.planogram.render import (
    BACKGROUND,
    SHELF,
    find_packshot,
    missing_packshots,
    product_colour,
    render_planogram,
    render_planogram_png,
)

from .conftest import AZURE_CATALOG, AZURE_SAMPLE, FIXTURES, needs_azure_sample


def crop_mean(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    return np.asarray(image.crop(box), dtype=float).reshape(-1, 3).mean(axis=0)


@needs_azure_sample
def test_azure_sample_renders_from_its_packshots() -> None:
    planogram = load_planogram_file(AZURE_SAMPLE)
    assert missing_packshots(planogram, AZURE_CATALOG) == []
    image = render_planogram(planogram, packshot_dir=AZURE_CATALOG, width_px=500)
    assert image.size == (500, 720) and image.mode == "RGB"
    scale = 10.0
    for facing in planogram.facings()[::7]:
        box = tuple(
            round(v * scale) for v in (facing.x, facing.y, facing.x + facing.w, facing.y + facing.h)
        )
        product = planogram.product_by_id()[facing.product_id]
        with Image.open(find_packshot(product, AZURE_CATALOG)) as source:
            tile = source.convert("RGBA").resize((box[2] - box[0], box[3] - box[1]))
        expected = Image.new("RGB", tile.size, BACKGROUND)
        expected.paste(tile, (0, 0), tile)
        difference = np.abs(crop_mean(image, box) - crop_mean(expected, (0, 0, *tile.size)))
        assert difference.max() < 6, (facing.facing_id, difference)
    # The shelves are drawn where the fixtures are, and empty wall stays background.
    shelf = planogram.fixtures[2]
    assert image.getpixel((250, round((shelf.y + shelf.h / 2) * scale))) == SHELF
    assert image.getpixel((20, 300)) == BACKGROUND  # left of the Tate's row, which starts at x=5


@needs_azure_sample
def test_labelled_boxes_without_packshots() -> None:
    planogram = load_planogram_file(AZURE_SAMPLE)
    image = render_planogram(planogram, px_per_unit=12)
    assert image.size == (600, 864)
    for facing in planogram.facings()[::5]:
        box = tuple(
            round(v * 12) for v in (facing.x, facing.y, facing.x + facing.w, facing.y + facing.h)
        )
        colour = product_colour(facing.product_id)
        pixels = np.asarray(image.crop((box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2)))
        is_fill = (pixels == colour).all(axis=2)
        assert 0.5 < is_fill.mean() < 0.995, facing.facing_id  # mostly fill, plus label ink
    without_labels = render_planogram(planogram, px_per_unit=12, labels=False)
    facing = planogram.facings()[0]
    box = tuple(
        round(v * 12) for v in (facing.x, facing.y, facing.x + facing.w, facing.y + facing.h)
    )
    inner = np.asarray(without_labels.crop((box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2)))
    assert (inner == product_colour(facing.product_id)).all()


def test_packshot_lookup_order(tmp_path) -> None:
    planogram = load_canonical((FIXTURES / "tiny_canonical.json").read_text())
    alpha = planogram.products[0].model_copy(update={"packshots": ["shots/alpha-front.png"]})
    (tmp_path / "shots").mkdir()
    Image.new("RGB", (50, 80), (255, 0, 0)).save(tmp_path / "shots" / "alpha-front.png")
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    Image.new("RGB", (40, 60), (0, 0, 255)).save(catalog / "Beta Cookies.jpg")
    Image.new("RGB", (40, 60), (0, 255, 0)).save(catalog / "C.png")
    assert find_packshot(alpha, catalog, tmp_path) == tmp_path / "shots" / "alpha-front.png"
    assert find_packshot(alpha, catalog) is None
    assert find_packshot(planogram.products[1], catalog) == catalog / "Beta Cookies.jpg"
    assert find_packshot(planogram.products[2], catalog) == catalog / "C.png"

    planogram = planogram.model_copy(update={"products": [alpha, *planogram.products[1:]]})
    image = render_planogram(planogram, packshot_dir=catalog, base_dir=tmp_path, px_per_unit=10)
    # Alpha's first facing (0, 14)–(5, 22) in red, Beta's (0, 4)–(4, 10) in blue, Gamma green.
    assert image.getpixel((25, 180)) == (255, 0, 0)
    assert np.abs(np.subtract(image.getpixel((20, 70)), (0, 0, 255))).max() <= 3  # a JPEG
    assert image.getpixel((180, 175)) == (0, 255, 0)


def test_png_bytes_and_size_limit() -> None:
    planogram = load_canonical((FIXTURES / "tiny_canonical.json").read_text())
    data = render_planogram_png(planogram, width_px=300)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="over the 8000 px limit"):
        render_planogram(planogram, px_per_unit=1000)
