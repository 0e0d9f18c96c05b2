"""Draw a planogram as an image: packshots where they can be found, labelled boxes otherwise.

Pixel coordinates are planogram coordinates times one scale (no margin), so overlays and reports
can map between the two with a single multiplication. Only Pillow's built-in font is used: no
font files are read or downloaded.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from shelfscan.planogram.model import Fixture, FixtureType, Planogram, Product

PACKSHOT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
DEFAULT_WIDTH_PX = 1000
MAX_SIDE_PX = 8000

BACKGROUND = (236, 234, 228)
BAY_EDGE = (150, 146, 138)
SHELF = (92, 94, 102)
SHELF_EDGE = (160, 162, 170)
PEG = (120, 110, 100)


def product_colour(product_id: str) -> tuple[int, int, int]:
    """A stable, fairly saturated colour per product id, for boxes without a packshot."""
    digest = hashlib.sha1(product_id.encode()).digest()
    hue = digest[0] / 255
    saturation = 0.45 + digest[1] / 255 * 0.3
    value = 0.7 + digest[2] / 255 * 0.25
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def find_packshot(
    product: Product, packshot_dir: Path | None = None, base_dir: Path | None = None
) -> Path | None:
    """The first existing packshot of ``product``.

    Tries the product's own ``packshots`` (absolute, or relative to ``base_dir`` — usually the
    planogram file's folder — then to ``packshot_dir``), then files in ``packshot_dir`` named
    after the product's name, id or GTIN (``Triscuit Crackers.png``, ``0007.jpg``).
    """
    candidates: list[Path] = []
    for entry in product.packshots:
        path = Path(entry)
        if path.is_absolute():
            candidates.append(path)
        else:
            candidates.extend(folder / path for folder in (base_dir, packshot_dir) if folder)
    if packshot_dir is not None:
        for stem in (product.name, product.id, product.gtin):
            if stem:
                candidates.extend(packshot_dir / f"{stem}{ext}" for ext in PACKSHOT_EXTENSIONS)
    return next((path for path in candidates if path.is_file()), None)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def wrap_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: float,
) -> list[str]:
    """``text`` broken into lines at most ``width`` pixels wide in ``font`` (a word longer
    than that stands on its own line)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and draw.textlength(candidate, font=font) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _label(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    text: str,
    fill: tuple[int, int, int],
) -> None:
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    if width < 16 or height < 10:
        return
    size = max(8, min(22, int(width / 7), int(height / 3)))
    font = _font(size)
    lines = wrap_text(draw, text, font, width - 4)
    line_height = size + 2
    lines = lines[: max(1, (height - 4) // line_height)]
    luminance = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
    ink = (20, 20, 20) if luminance > 140 else (250, 250, 250)
    y = top + (height - line_height * len(lines)) / 2
    for line in lines:
        x = left + max(2, (width - draw.textlength(line, font=font)) / 2)
        draw.text((x, y), line, font=font, fill=ink)
        y += line_height


def _draw_fixture(draw: ImageDraw.ImageDraw, fixture: Fixture, scale: float) -> None:
    left, top = round(fixture.x * scale), round(fixture.y * scale)
    right = round((fixture.x + fixture.w) * scale)
    bottom = max(top + 3, round((fixture.y + fixture.h) * scale))
    if fixture.type is FixtureType.PEG:
        draw.rectangle((left, top, right, bottom), fill=PEG)
        return
    if fixture.type is FixtureType.BASKET:
        draw.rectangle((left, top, right, bottom), outline=SHELF, width=2)
        return
    draw.rectangle((left, top, right, bottom), fill=SHELF)
    draw.line((left, top, right, top), fill=SHELF_EDGE, width=1)


def render_planogram(
    planogram: Planogram,
    *,
    packshot_dir: str | Path | None = None,
    base_dir: str | Path | None = None,
    width_px: int | None = None,
    px_per_unit: float | None = None,
    labels: bool = True,
) -> Image.Image:
    """An RGB image of ``planogram``; pixel = planogram unit × scale, origin top-left.

    The scale is ``px_per_unit`` if given, else chosen so the image is ``width_px`` wide
    (1000 by default). Facings with a packshot (see ``find_packshot``) show it stretched to the
    facing's rectangle; the others are coloured boxes labelled with the product name.
    """
    if px_per_unit is None:
        px_per_unit = (width_px or DEFAULT_WIDTH_PX) / planogram.width
    scale = float(px_per_unit)
    size = (max(1, round(planogram.width * scale)), max(1, round(planogram.height * scale)))
    if max(size) > MAX_SIDE_PX or scale <= 0:
        raise ValueError(
            f"a {size[0]} × {size[1]} px render is over the {MAX_SIDE_PX} px limit; "
            "use a smaller width_px or px_per_unit"
        )
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    packshot_root = Path(packshot_dir) if packshot_dir else None
    base = Path(base_dir) if base_dir else None

    for bay in planogram.bays[1:]:
        x = round(bay.x * scale)
        draw.line((x, 0, x, size[1]), fill=BAY_EDGE, width=2)
    for fixture in planogram.fixtures:
        _draw_fixture(draw, fixture, scale)

    products = planogram.product_by_id()
    sources: dict[str, Image.Image | None] = {}
    for facing in planogram.facings():
        box = (
            round(facing.x * scale),
            round(facing.y * scale),
            round((facing.x + facing.w) * scale),
            round((facing.y + facing.h) * scale),
        )
        width, height = box[2] - box[0], box[3] - box[1]
        if width < 1 or height < 1:
            continue
        if facing.product_id not in sources:
            path = find_packshot(products[facing.product_id], packshot_root, base)
            sources[facing.product_id] = _open_packshot(path) if path else None
        packshot = sources[facing.product_id]
        if packshot is not None:
            tile = packshot.resize((width, height), Image.Resampling.LANCZOS)
            image.paste(tile, box[:2], tile)
            continue
        fill = product_colour(facing.product_id)
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=fill, outline=(60, 60, 60))
        if labels:
            _label(draw, box, facing.product_name, fill)
    return image


def _open_packshot(path: Path) -> Image.Image:
    with Image.open(path) as opened:
        picture = ImageOps.exif_transpose(opened).convert("RGBA")
    # Big catalogue images are shrunk once; each facing then resizes from this copy.
    picture.thumbnail((600, 600), Image.Resampling.LANCZOS)
    return picture


def render_planogram_png(planogram: Planogram, **options: object) -> bytes:
    """``render_planogram`` encoded as PNG bytes."""
    buffer = io.BytesIO()
    render_planogram(planogram, **options).save(buffer, format="PNG", optimize=True)  # type: ignore[arg-type]
    return buffer.getvalue()


def missing_packshots(
    planogram: Planogram, packshot_dir: str | Path | None = None, base_dir: str | Path | None = None
) -> list[str]:
    """Ids of products that will be drawn as labelled boxes for want of a packshot."""
    root = Path(packshot_dir) if packshot_dir else None
    base = Path(base_dir) if base_dir else None
    return [p.id for p in planogram.products if find_packshot(p, root, base) is None]
