from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shelfscan.planogram.model import Product
from shelfscan.synth.packaging import find_packshot, load_front_faces, render_placeholder


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def test_placeholder_is_deterministic_per_product_id():
    product = Product(id="sku-1", name="Cola Zero 330ml", w=6, h=12)
    first, second = render_placeholder(product), render_placeholder(product)
    assert np.array_equal(_pixels(first), _pixels(second))


def test_placeholders_of_different_products_look_different():
    images = [
        render_placeholder(Product(id=f"sku-{i}", name="Same Name", w=6, h=12), height_px=96)
        for i in range(12)
    ]
    thumbs = [_pixels(im.resize((12, 24))) for im in images]
    for i in range(len(thumbs)):
        for j in range(i + 1, len(thumbs)):
            # Identical names must still give visibly different packs (mean colour distance).
            assert np.abs(thumbs[i] - thumbs[j]).mean() > 8, (i, j)


def test_placeholder_keeps_the_product_aspect_ratio():
    image = render_placeholder(Product(id="wide", name="Family Pack", w=30, h=10), height_px=100)
    assert image.size == (300, 100)


def test_placeholder_rejects_a_product_without_size():
    with pytest.raises(ValueError, match="'flat'"):
        render_placeholder(Product(id="flat", name="Flat", w=5, h=0))


def test_packshots_are_found_by_name_and_used(tmp_path):
    Image.new("RGB", (50, 100), (255, 0, 0)).save(tmp_path / "Cola Zero 330ml.png")
    with_shot = Product(id="cola", name="Cola Zero 330ml", w=6, h=12)
    without = Product(id="water", name="Still Water", w=6, h=12)
    assert find_packshot(with_shot, [tmp_path]) == tmp_path / "Cola Zero 330ml.png"
    assert find_packshot(without, [tmp_path]) is None

    faces = load_front_faces([with_shot, without], search_dirs=[tmp_path], height_px=64)
    assert faces["cola"].size == (32, 64)
    assert _pixels(faces["cola"])[..., 0].mean() > 250  # the red packshot, resized
    assert np.array_equal(
        _pixels(faces["water"]), _pixels(render_placeholder(without, height_px=64))
    )


def test_explicit_packshot_path_wins_over_name(tmp_path):
    Image.new("RGB", (40, 80), (0, 0, 255)).save(tmp_path / "front.jpg")
    Image.new("RGB", (40, 80), (255, 0, 0)).save(tmp_path / "Cola.png")
    product = Product(id="cola", name="Cola", w=6, h=12, packshots=["front.jpg"])
    assert find_packshot(product, [tmp_path]) == tmp_path / "front.jpg"
