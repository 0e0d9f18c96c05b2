"""The bay overview: the planogram's schematic coloured by each facing's verdict, with which
photo of the scan covered what. Drawn in planogram space, so it reads the same whatever the
photos' framing: the picture a clerk and a dashboard both understand.

Pure: Pillow and the report; no photo is needed.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from shelfscan.compliance.report import ComplianceReport, FacingStatus
from shelfscan.planogram.model import Planogram
from shelfscan.planogram.render import BACKGROUND, _draw_fixture, _font

STATUS_FILL = {
    FacingStatus.OK: (46, 160, 67),
    FacingStatus.GAP: (215, 48, 39),
    FacingStatus.MISPLACED: (245, 145, 30),
    FacingStatus.NOT_VISIBLE: (170, 170, 170),
}
# One outline colour per photo (up to eight photos per scan), distinct from the statuses.
PHOTO_COLOURS = [
    (31, 94, 214),
    (142, 68, 173),
    (0, 150, 170),
    (200, 40, 150),
    (90, 90, 30),
    (20, 60, 120),
    (160, 80, 20),
    (60, 60, 60),
]
LEGEND_PX = 64


def render_overview(
    planogram: Planogram, report: ComplianceReport, *, width_px: int = 1000
) -> bytes:
    """PNG of the bay: facings filled by status and numbered with the photo their verdict
    comes from (1-based), each photo's coverage outlined in its colour, a legend below."""
    scale = width_px / planogram.width
    body = (width_px, max(1, round(planogram.height * scale)))
    image = Image.new("RGB", (body[0], body[1] + LEGEND_PX), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for fixture in planogram.fixtures:
        _draw_fixture(draw, fixture, scale)
    verdicts = {f.facing_id: f for f in report.facings}
    several = len(report.photos) > 1
    label_font = _font(max(9, min(18, round(scale * 3))))
    for facing in planogram.facings():
        box = (
            round(facing.x * scale),
            round(facing.y * scale),
            round((facing.x + facing.w) * scale) - 1,
            round((facing.y + facing.h) * scale) - 1,
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        verdict = verdicts.get(facing.facing_id)
        status = verdict.status if verdict is not None else FacingStatus.NOT_VISIBLE
        draw.rectangle(box, fill=STATUS_FILL[status], outline=(40, 40, 40))
        photo = verdict.evidence.photo if verdict is not None else None
        if several and photo is not None and status is not FacingStatus.NOT_VISIBLE:
            text = str(photo + 1)
            draw.text(
                ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2),
                text,
                font=label_font,
                fill=(255, 255, 255),
                anchor="mm",
            )
    for summary in report.photos:
        if summary.view is None or not summary.used:
            continue
        colour = PHOTO_COLOURS[summary.index % len(PHOTO_COLOURS)]
        inset = 2 + 3 * summary.index  # overlapping outlines stay apart
        view = summary.view
        draw.rectangle(
            (
                round(view.x * scale) + inset,
                round(view.y * scale) + inset,
                round((view.x + view.w) * scale) - inset,
                round((view.y + view.h) * scale) - inset,
            ),
            outline=colour,
            width=3,
        )
    _legend(draw, report, body, width_px)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _legend(
    draw: ImageDraw.ImageDraw, report: ComplianceReport, body: tuple[int, int], width_px: int
) -> None:
    font = _font(14)
    y = body[1] + 8
    x = 8
    counts = report.counts.model_dump()
    for status, fill in STATUS_FILL.items():
        label = f"{status.value.replace('_', ' ')} {counts.get(status.value, 0)}"
        draw.rectangle((x, y, x + 14, y + 14), fill=fill, outline=(40, 40, 40))
        draw.text((x + 20, y), label, font=font, fill=(20, 20, 20))
        x += 28 + round(draw.textlength(label, font=font))
    x, y = 8, y + 26
    for summary in report.photos:
        colour = PHOTO_COLOURS[summary.index % len(PHOTO_COLOURS)]
        if summary.used:
            label = f"photo {summary.index + 1}: {summary.facings_chosen} facings"
        else:
            label = f"photo {summary.index + 1}: left out ({summary.left_out_reason})"
        draw.rectangle((x, y, x + 14, y + 14), outline=colour, width=3)
        draw.text((x + 20, y), label, font=font, fill=(20, 20, 20))
        x += 32 + round(draw.textlength(label, font=font))
        if x > width_px - 120:
            break
