"""Product front faces for the renderer: real packshots where a product has one, otherwise
placeholder packaging drawn with Pillow.

Placeholder packs are seeded by the product id, so a product looks the same in every render and
in every run (the detector can learn it) while different products get different colours, patterns
and text. No fonts or images are downloaded: text uses Pillow's bundled default font.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shelfscan.planogram.model import Product

PATTERNS = ("stripes", "bands", "dots", "diagonal", "chevron", "checker", "rings", "split")
PACKSHOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class PackagingStyle:
    """The look of one placeholder pack, derived from its product id."""

    base: tuple[int, int, int]
    accent: tuple[int, int, int]
    ink: tuple[int, int, int]
    pattern: str
    window: str  # shape of the "product window": ellipse, rectangle or none
    band_top: bool


def _seed(product_id: str) -> int:
    return int.from_bytes(hashlib.sha256(product_id.encode("utf-8")).digest()[:8], "big")


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def packaging_style(product_id: str) -> PackagingStyle:
    """Deterministic style for a product id; hues spread with the golden ratio."""
    rng = np.random.default_rng(_seed(product_id))
    hue = float(rng.random())
    base = _rgb(hue, float(rng.uniform(0.45, 0.95)), float(rng.uniform(0.45, 0.95)))
    accent_hue = hue + float(rng.choice([0.5, 0.33, -0.33, 0.618]))
    accent = _rgb(accent_hue, float(rng.uniform(0.5, 1.0)), float(rng.uniform(0.55, 1.0)))
    luminance = 0.299 * base[0] + 0.587 * base[1] + 0.114 * base[2]
    ink = (20, 20, 25) if luminance > 140 else (245, 245, 240)
    return PackagingStyle(
        base=base,
        accent=accent,
        ink=ink,
        pattern=str(rng.choice(PATTERNS)),
        window=str(rng.choice(["ellipse", "rectangle", "none"])),
        band_top=bool(rng.random() < 0.5),
    )


def _draw_pattern(
    draw: ImageDraw.ImageDraw, style: PackagingStyle, width: int, height: int, rng
) -> None:
    step = max(4, int(min(width, height) * float(rng.uniform(0.08, 0.18))))
    accent = style.accent
    if style.pattern == "stripes":
        for x in range(0, width, step * 2):
            draw.rectangle([x, 0, x + step - 1, height], fill=accent)
    elif style.pattern == "bands":
        for y in range(height // 3, height, step * 3):
            draw.rectangle([0, y, width, y + step], fill=accent)
    elif style.pattern == "dots":
        r = max(2, step // 3)
        for y in range(step // 2, height, step):
            for x in range(step // 2 + (y // step % 2) * step // 2, width, step):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=accent)
    elif style.pattern == "diagonal":
        for x in range(-height, width, step * 2):
            draw.polygon(
                [(x, height), (x + step, height), (x + step + height, 0), (x + height, 0)],
                fill=accent,
            )
    elif style.pattern == "chevron":
        for y in range(0, height + step, step * 2):
            draw.line(
                [(0, y), (width // 2, y + step), (width, y)], fill=accent, width=max(2, step // 2)
            )
    elif style.pattern == "checker":
        for y in range(0, height, step):
            for x in range((y // step % 2) * step, width, step * 2):
                draw.rectangle([x, y, x + step - 1, y + step - 1], fill=accent)
    elif style.pattern == "rings":
        cx, cy = width // 2, int(height * 0.6)
        for r in range(step, max(width, height), step * 2):
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=accent, width=max(2, step // 2))
    else:  # "split": the lower part in the accent colour, at a seeded angle
        tilt = int(height * float(rng.uniform(-0.15, 0.15)))
        draw.polygon(
            [(0, height // 2 + tilt), (width, height // 2 - tilt), (width, height), (0, height)],
            fill=accent,
        )


def _wrap(text: str, font: ImageFont.ImageFont, max_width: int, draw: ImageDraw.ImageDraw):
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= max_width or not current:
            current = trial
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def render_placeholder(product: Product, *, height_px: int = 320) -> Image.Image:
    """A placeholder front face with the product's aspect ratio (``w / h``)."""
    if product.w <= 0 or product.h <= 0:
        raise ValueError(f"product {product.id!r}: w and h must be positive to draw packaging")
    height = max(16, int(height_px))
    width = max(8, round(height * product.w / product.h))
    style = packaging_style(product.id)
    rng = np.random.default_rng(_seed(product.id) ^ 0x5EED)
    image = Image.new("RGB", (width, height), style.base)
    draw = ImageDraw.Draw(image)
    _draw_pattern(draw, style, width, height, rng)

    short = min(width, height)
    if style.window != "none":
        box = [int(width * 0.15), int(height * 0.45), int(width * 0.85), int(height * 0.85)]
        fill = tuple(min(255, c + 60) for c in style.base)
        if style.window == "ellipse":
            draw.ellipse(box, fill=fill, outline=style.ink, width=max(1, short // 60))
        else:
            draw.rounded_rectangle(
                box, radius=short // 12, fill=fill, outline=style.ink, width=max(1, short // 60)
            )

    # Brand band and name: large text is what makes packs recognisable from a distance.
    band_height = int(height * 0.3)
    band_y = 0 if style.band_top else int(height * 0.08)
    draw.rectangle([0, band_y, width, band_y + band_height], fill=style.accent)
    brand = (product.brand or (product.name.split() or [product.id])[0])[:14].upper()
    brand_size = max(8, int(band_height * 0.55))
    brand_font = ImageFont.load_default(size=brand_size)
    # Shrink until the brand fits across the pack: a cut-off brand is less learnable.
    while brand_size > 8 and draw.textlength(brand, font=brand_font) > width * 0.9:
        brand_size = max(8, int(brand_size * 0.85))
        brand_font = ImageFont.load_default(size=brand_size)
    draw.text(
        (width / 2, band_y + band_height / 2),
        brand,
        font=brand_font,
        fill=style.ink,
        anchor="mm",
        stroke_width=max(1, short // 80),
        stroke_fill=style.base,
    )
    name_font = ImageFont.load_default(size=max(7, int(width * 0.1)))
    lines = _wrap(product.name, name_font, int(width * 0.9), draw)[:3]
    y = band_y + band_height + height * 0.04
    for line in lines:
        draw.text((width / 2, y), line, font=name_font, fill=style.ink, anchor="ma")
        y += name_font.size * 1.15
    # Product id in a corner tag keeps near-identical names apart (flavour variants).
    tag_font = ImageFont.load_default(size=max(7, int(short * 0.09)))
    draw.text((width * 0.06, height * 0.94), product.id, font=tag_font, fill=style.ink, anchor="ld")
    draw.rectangle(
        [0, 0, width - 1, height - 1],
        outline=tuple(c // 2 for c in style.base),
        width=max(1, short // 50),
    )
    return image


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def find_packshot(product: Product, search_dirs: Sequence[Path] = ()) -> Path | None:
    """The product's packshot file: its own ``packshots`` paths first (relative ones resolved
    against each search dir), then a file in a search dir named like the product's id, GTIN or
    name (case and punctuation ignored, as catalogue exports name them)."""
    for raw in product.packshots:
        path = Path(raw)
        candidates = [path] if path.is_absolute() else [d / path for d in search_dirs] + [path]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
    wanted = {_slug(k) for k in (product.id, product.gtin or "", product.name) if k}
    wanted.discard("")
    for directory in search_dirs:
        if not directory.is_dir():
            continue
        for file in sorted(directory.iterdir()):
            if file.suffix.lower() in PACKSHOT_SUFFIXES and _slug(file.stem) in wanted:
                return file
    return None


def load_front_faces(
    products: Iterable[Product],
    *,
    search_dirs: Sequence[Path | str] = (),
    height_px: int = 320,
    placeholders_only: bool = False,
) -> dict[str, Image.Image]:
    """Front-face image per product id: the packshot (RGB, resized to ``height_px`` high) or a
    placeholder when the product has none."""
    dirs = [Path(d) for d in search_dirs]
    faces: dict[str, Image.Image] = {}
    for product in products:
        if product.id in faces:
            continue
        path = None if placeholders_only else find_packshot(product, dirs)
        if path is None:
            faces[product.id] = render_placeholder(product, height_px=height_px)
            continue
        try:
            with Image.open(path) as opened:
                face = opened.convert("RGB")
        except OSError as exc:
            raise ValueError(f"product {product.id!r}: cannot read packshot {path}: {exc}") from exc
        width = max(8, round(face.width * height_px / face.height))
        faces[product.id] = face.resize((width, height_px), Image.Resampling.LANCZOS)
    return faces
