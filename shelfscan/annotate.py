"""Draw a compliance result over the shelf photo: each planogram facing coloured by status, the
boxes the detector found that the planogram did not expect, a numbered marker per action (the
numbers of the action list) and a legend.

Drawn for a phone: the photo is drawn at display size (long side at most 2048 px) and text
and markers are sized to the photo's width as a phone shows it (390 px), so that they stay
readable without zooming. Pillow only, with its built-in font: nothing is downloaded."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from shelfscan.planogram.render import wrap_text

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


@dataclass(frozen=True)
class Marker:
    """A numbered disc on the box of an action (the action's number in the list)."""

    number: int
    box: tuple[float, float, float, float]
    kind: str = ""


PHONE_WIDTH_PX = 390  # CSS pixels across a phone screen: text is sized to stay readable there
MARKER_COLOUR = (17, 24, 39)


def annotate(
    image: Image.Image,
    overlays: Sequence[Overlay],
    *,
    max_side: int = 2048,
    markers: Sequence[Marker] = (),
    notice: str | None = None,
    box_scale: float = 1.0,
) -> Image.Image:
    """A copy of ``image`` (downscaled to ``max_side``) with the overlays, numbered markers
    and a legend; ``notice`` (e.g. why the result is inconclusive) is written above it.

    ``box_scale``: pixels of ``image`` per unit of the boxes' coordinates, for drawing the
    full photo's boxes on a reduced copy of it (``shelfscan.imaging.decode``: 1/factor)."""
    scale = min(1.0, max_side / max(image.size))
    box_to_canvas = scale * box_scale
    canvas = image.convert("RGB")
    if scale < 1.0:
        canvas = canvas.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        )
    line = max(2, round(min(canvas.size) / 300))
    # One CSS pixel of a phone showing the photo full width, in pixels of the canvas.
    css_px = canvas.width / PHONE_WIDTH_PX
    font = ImageFont.load_default(size=max(12, round(12 * css_px)))
    tint = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    tint_draw = ImageDraw.Draw(tint)
    for overlay in overlays:
        if overlay.status in ("gap", "misplaced", "unexpected"):
            colour = STATUS_COLOURS.get(overlay.status, (255, 255, 255))
            tint_draw.rectangle(_scaled(overlay.box, box_to_canvas), fill=(*colour, 70))
    canvas = Image.alpha_composite(canvas.convert("RGBA"), tint).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    for overlay in overlays:
        colour = STATUS_COLOURS.get(overlay.status, (255, 255, 255))
        box = _scaled(overlay.box, box_to_canvas)
        draw.rectangle(box, outline=colour, width=line)
        if overlay.label and overlay.status != "ok":
            text = _fit(draw, overlay.label, font, box[2] - box[0] - 2 * line)
            if text:
                _label(draw, (box[0] + line, box[1] + line), text, colour, font)
    marker_font = ImageFont.load_default(size=max(12, round(13 * css_px)))
    radius = max(10, round(11 * css_px))
    for marker in markers:
        x1, y1, x2, _ = _scaled(marker.box, box_to_canvas)
        cx = min(max((x1 + x2) / 2, radius), canvas.width - radius)
        cy = min(max(y1 + radius, radius), canvas.height - radius)
        draw.ellipse(
            (cx - radius, cy - radius, cx + radius, cy + radius),
            fill=MARKER_COLOUR,
            outline=(255, 255, 255),
            width=max(2, round(css_px)),
        )
        draw.text((cx, cy), str(marker.number), fill=(255, 255, 255), font=marker_font, anchor="mm")
    return _with_legend(
        canvas, {o.status for o in overlays}, font, markers=bool(markers), notice=notice
    )


def annotate_jpeg(
    image: Image.Image,
    overlays: Sequence[Overlay],
    *,
    quality: int = 85,
    markers: Sequence[Marker] = (),
    notice: str | None = None,
    box_scale: float = 1.0,
) -> bytes:
    buffer = io.BytesIO()
    annotate(image, overlays, markers=markers, notice=notice, box_scale=box_scale).save(
        buffer, format="JPEG", quality=quality, optimize=True
    )
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
    *,
    markers: bool = False,
    notice: str | None = None,
) -> Image.Image:
    """The legend under the photo, wrapped to its width: the status colours, what the
    numbered markers are, and the notice (if any) first."""
    shown = [s for s in STATUS_COLOURS if s in statuses]
    if not shown and notice is None:
        shown = ["ok"]
    probe = ImageDraw.Draw(canvas)
    text_h = probe.textbbox((0, 0), "Ag", font=font)[3]
    pad = max(8, text_h // 2)
    row_height = text_h + pad
    items: list[tuple[tuple[int, int, int] | None, str]] = [
        (STATUS_COLOURS[s], STATUS_LABELS[s]) for s in shown
    ]
    if markers:
        items.append((MARKER_COLOUR, "1, 2, … = the actions, in list order"))
    lines: list[list[tuple[tuple[int, int, int] | None, str]]] = []
    if notice:
        for text in wrap_text(probe, notice, font, canvas.width - 2 * pad):
            lines.append([(None, text)])
    x = pad
    for colour, label in items:
        width = row_height + probe.textlength(label, font=font) + 2 * pad
        if not lines or lines[-1][0][0] is None or x + width > canvas.width:
            lines.append([])
            x = pad
        lines[-1].append((colour, label))
        x += width
    legend = Image.new("RGB", (canvas.width, len(lines) * row_height + pad), (255, 255, 255))
    draw = ImageDraw.Draw(legend)
    for row, line_items in enumerate(lines):
        y = pad + row * row_height
        x = pad
        for colour, label in line_items:
            if colour is not None:
                draw.rectangle((x, y, x + text_h, y + text_h), fill=colour)
                x += text_h + pad // 2
            draw.text((x, y), label, fill=(20, 20, 20), font=font)
            x += probe.textlength(label, font=font) + 2 * pad
    combined = Image.new("RGB", (canvas.width, canvas.height + legend.height), (255, 255, 255))
    combined.paste(canvas, (0, 0))
    combined.paste(legend, (0, canvas.height))
    return combined
