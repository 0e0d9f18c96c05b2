"""Draw a compliance result over the shelf photo: each planogram facing coloured by status, the
boxes the detector found that the planogram did not expect, and a legend.

Pillow only, with its built-in font: nothing is downloaded."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

STATUS_COLOURS: dict[str, tuple[int, int, int]] = {
    "ok": (46, 160, 67),
    "gap": (220, 38, 38),
    "misplaced": (245, 158, 11),
    "not_visible": (148, 163, 184),
    "unexpected": (168, 85, 247),
}
STATUS_LABELS = {
    "ok": "OK",
    "gap": "Gap (out of stock)",
    "misplaced": "Misplaced product",
    "not_visible": "Not visible",
    "unexpected": "Unexpected product",
}


@dataclass(frozen=True)
class Overlay:
    """One box to draw, in pixels of the photo."""

    status: str
    box: tuple[float, float, float, float]
    label: str = ""


def annotate(
    image: Image.Image, overlays: Sequence[Overlay], *, max_side: int = 2048
) -> Image.Image:
    """A copy of ``image`` (downscaled to ``max_side``) with the overlays and a legend."""
    scale = min(1.0, max_side / max(image.size))
    canvas = image.convert("RGB")
    if scale < 1.0:
        canvas = canvas.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        )
    line = max(2, round(min(canvas.size) / 300))
    font = ImageFont.load_default(size=max(12, round(min(canvas.size) / 60)))
    tint = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    tint_draw = ImageDraw.Draw(tint)
    for overlay in overlays:
        if overlay.status in ("gap", "misplaced", "unexpected"):
            colour = STATUS_COLOURS.get(overlay.status, (255, 255, 255))
            tint_draw.rectangle(_scaled(overlay.box, scale), fill=(*colour, 70))
    canvas = Image.alpha_composite(canvas.convert("RGBA"), tint).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    for overlay in overlays:
        colour = STATUS_COLOURS.get(overlay.status, (255, 255, 255))
        box = _scaled(overlay.box, scale)
        draw.rectangle(box, outline=colour, width=line)
        if overlay.label and overlay.status != "ok":
            text = _fit(draw, overlay.label, font, box[2] - box[0] - 2 * line)
            if text:
                _label(draw, (box[0] + line, box[1] + line), text, colour, font)
    return _with_legend(canvas, {o.status for o in overlays}, font)


def annotate_jpeg(image: Image.Image, overlays: Sequence[Overlay], *, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    annotate(image, overlays).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _scaled(box: Sequence[float], scale: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (value * scale for value in box)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _fit(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    max_width: float,
) -> str:
    """``text`` shortened with an ellipsis so that neighbouring boxes' labels do not overlap."""
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + "…", font=font) > max_width:
        text = text[:-1]
    return text + "…" if text else ""


def _label(
    draw: ImageDraw.ImageDraw,
    origin: tuple[float, float],
    text: str,
    colour: tuple[int, int, int],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    left, top, right, bottom = draw.textbbox(origin, text, font=font)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=colour)
    draw.text(origin, text, fill=(255, 255, 255), font=font)


def _with_legend(
    canvas: Image.Image,
    statuses: set[str],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> Image.Image:
    shown = [s for s in STATUS_COLOURS if s in statuses] or ["ok"]
    probe = ImageDraw.Draw(canvas)
    row_height = probe.textbbox((0, 0), "Ag", font=font)[3] + 10
    legend = Image.new("RGB", (canvas.width, row_height + 10), (255, 255, 255))
    draw = ImageDraw.Draw(legend)
    x = 10
    for status in shown:
        colour = STATUS_COLOURS[status]
        draw.rectangle((x, 8, x + row_height - 6, row_height), fill=colour)
        x += row_height + 2
        draw.text((x, 8), STATUS_LABELS[status], fill=(20, 20, 20), font=font)
        x += draw.textbbox((0, 0), STATUS_LABELS[status], font=font)[2] + 24
    combined = Image.new("RGB", (canvas.width, canvas.height + legend.height), (255, 255, 255))
    combined.paste(canvas, (0, 0))
    combined.paste(legend, (0, canvas.height))
    return combined
