"""The compliance report as the actions a clerk takes at the shelf.

A report has a verdict per planned facing; a person in the aisle needs "Fill 2 facings of
Alpenhof Nut Muesli 750 g — shelf 2 from the top, 3rd–4th from the left". ``build_actions``
groups the verdicts into such actions:

- ``fill``: empty facings of a product (one action per product and shelf);
- ``replace``: another product stands where a product is planned;
- ``move``: a product's empty facing and, on the same shelf, the same product standing
  where it is not planned (an extra facing, or in another product's facing). One action:
  a fill next to a remove of the same product would contradict itself;
- ``remove``: a product not in the planogram, or an extra facing, inside the bay;
- ``photograph``: planned facings outside the photo, said the way a person frames the next
  photo ("the left 3 facings of the top shelf are not in the photo").

Locations are counted the way staff count: shelves from the top (the planogram's fixtures by
height), positions from the left (the facings of that shelf by ``x``; a stack of facings is
one position). Products are named, never coded. Actions are sorted by impact: a product with
no facing left on the bay first, then fills, replacements, moves, removals, photographs.

Pure: reads the report and the planogram.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shelfscan.compliance.report import (
    Action,
    ActionKind,
    ComplianceReport,
    FacingResult,
    FacingStatus,
    TrustSummary,
    UnexpectedKind,
    UnexpectedProduct,
)
from shelfscan.detections import Detections
from shelfscan.planogram.model import Planogram

if TYPE_CHECKING:
    from shelfscan.compliance.trust import TrustThresholds, TrustVerdict
    from shelfscan.imaging.quality import PhotoQuality

PRIORITY_OUT_OF_STOCK = 0
PRIORITY = {
    ActionKind.FILL: 1,
    ActionKind.REPLACE: 2,
    ActionKind.MOVE: 3,
    ActionKind.REMOVE: 4,
    ActionKind.PHOTOGRAPH: 5,
}


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def positions_text(positions: Sequence[int]) -> str:
    """``[3, 4]`` → "3rd–4th from the left"; ``[2, 5]`` → "2nd and 5th from the left"."""
    ordered = sorted(set(positions))
    if not ordered:
        return ""
    runs: list[tuple[int, int]] = []
    for p in ordered:
        if runs and p == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], p)
        else:
            runs.append((p, p))
    parts = [ordinal(a) if a == b else f"{ordinal(a)}–{ordinal(b)}" for a, b in runs]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{joined} from the left"


def shelf_text(shelf: int | None) -> str:
    return "shelf unknown" if shelf is None else f"shelf {shelf} from the top"


def _plural(count: int, word: str = "facing") -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


@dataclass(frozen=True)
class ShelfLayout:
    """Where each planned facing is, counted the way staff count."""

    shelf_of_fixture: dict[str, int]  # fixture id → shelf from the top (1 = top)
    place_of_facing: dict[str, tuple[int, int]]  # facing id → (shelf, position from left)
    positions_on_shelf: dict[int, int]  # shelf → number of positions
    shelves: int

    @classmethod
    def of(cls, planogram: Planogram) -> ShelfLayout:
        # Fixtures at the same height (one per bay of a long run) are one shelf to a person.
        levels = sorted({round(f.y, 1) for f in planogram.fixtures})
        shelf_of_fixture = {f.id: levels.index(round(f.y, 1)) + 1 for f in planogram.fixtures}
        xs_on_shelf: dict[int, set[float]] = defaultdict(set)
        facings = planogram.facings()
        for facing in facings:
            shelf = shelf_of_fixture.get(facing.fixture_id)
            if shelf is not None:
                xs_on_shelf[shelf].add(round(facing.x, 1))
        ranks = {
            shelf: {x: i + 1 for i, x in enumerate(sorted(xs))} for shelf, xs in xs_on_shelf.items()
        }
        place: dict[str, tuple[int, int]] = {}
        for facing in facings:
            shelf = shelf_of_fixture.get(facing.fixture_id)
            if shelf is not None:
                place[facing.facing_id] = (shelf, ranks[shelf][round(facing.x, 1)])
        return cls(
            shelf_of_fixture=shelf_of_fixture,
            place_of_facing=place,
            positions_on_shelf={shelf: len(xs) for shelf, xs in xs_on_shelf.items()},
            shelves=len(levels),
        )


def build_actions(
    report: ComplianceReport,
    planogram: Planogram,
    *,
    known_names: Mapping[str, str] | None = None,
) -> list[Action]:
    """The actions for ``report`` (``planogram`` matched), sorted and numbered.

    ``known_names`` (product id or detector label → name) names products that are not in
    this planogram (another bay's products); otherwise the detector's label is shown."""
    layout = ShelfLayout.of(planogram)
    names = {p.id: p.name for p in planogram.products}
    other_names = dict(known_names or {})
    found_on_bay = {p.product_id: p.found for p in report.products}

    def name_of(product_id: str | None, label: str | None) -> str:
        for key in (product_id, label):
            if key and key in names:
                return names[key]
            if key and key in other_names:
                return other_names[key]
        return label or product_id or "an unknown product"

    def place(facing: FacingResult) -> tuple[int | None, int | None]:
        shelf, position = layout.place_of_facing.get(facing.facing_id, (None, None))
        if shelf is None:
            shelf = layout.shelf_of_fixture.get(facing.fixture_id)
        return shelf, position

    gaps = [f for f in report.facings if f.status is FacingStatus.GAP]
    misplaced = [f for f in report.facings if f.status is FacingStatus.MISPLACED]
    hidden = [f for f in report.facings if f.status is FacingStatus.NOT_VISIBLE]
    unexpected = list(report.unexpected)

    # Moves: a product's gap paired with the same product standing out of place on the shelf.
    facings_by_shelf: dict[int | None, list[FacingResult]] = defaultdict(list)
    for facing in report.facings:
        facings_by_shelf[place(facing)[0]].append(facing)
    moves: list[Action] = []
    paired_gaps: set[str] = set()
    used_extra: set[str] = set()
    moved_from_misplaced: set[str] = set()
    for gap in sorted(gaps, key=lambda f: place(f)):
        shelf, position = place(gap)
        centre = gap.expected_box.x + gap.expected_box.w / 2
        sources: list[tuple[float, str, str, str]] = []  # (distance, kind, id, from text)
        for item in unexpected:
            if (
                item.kind is UnexpectedKind.EXTRA_FACING
                and item.product_id == gap.product_id
                and item.detection_id not in used_extra
                and _shelf_of_unexpected(item, layout) == shelf
            ):
                x = item.box.x + item.box.w / 2
                where = _between_text(x, facings_by_shelf.get(shelf, []), place)
                where = where.removesuffix(" from the left")
                sources.append((abs(x - centre), "extra", item.detection_id, where))
        for other in misplaced:
            if (
                other.found_product_id == gap.product_id
                and other.facing_id not in moved_from_misplaced
                and place(other)[0] == shelf
            ):
                x = other.expected_box.x + other.expected_box.w / 2
                other_position = place(other)[1]
                where = f"the {ordinal(other_position)}" if other_position else "nearby"
                sources.append((abs(x - centre), "misplaced", other.facing_id, where))
        if not sources:
            continue
        _, source_kind, source_id, from_text = min(sources)
        paired_gaps.add(gap.facing_id)
        detection_ids: list[str] = []
        facing_ids = [gap.facing_id]
        if source_kind == "extra":
            used_extra.add(source_id)
            detection_ids.append(source_id)
        else:
            moved_from_misplaced.add(source_id)
            facing_ids.append(source_id)
            source = next(f for f in misplaced if f.facing_id == source_id)
            if source.evidence.detection_id:
                detection_ids.append(source.evidence.detection_id)
        product = name_of(gap.product_id, None)
        to_text = f"the {ordinal(position)}" if position else "its planned place"
        location = f"{shelf_text(shelf)}, {positions_text([position] if position else [])}"
        moves.append(
            _action(
                ActionKind.MOVE,
                f"Move {product} — {shelf_text(shelf)}, from {from_text} to {to_text} "
                "from the left (its empty spot)",
                product_id=gap.product_id,
                product_name=product,
                count=1,
                shelf=shelf,
                positions=[position] if position else [],
                location=location,
                facing_ids=facing_ids,
                detection_ids=detection_ids,
            )
        )

    grouped: dict[tuple, list[FacingResult]] = defaultdict(list)
    for gap in gaps:
        if gap.facing_id not in paired_gaps:
            grouped[(ActionKind.FILL, gap.product_id, None, place(gap)[0])].append(gap)
    for facing in misplaced:
        other = facing.found_product_id or facing.found_label or ""
        if facing.facing_id in moved_from_misplaced:
            # Its product moves away (the move action); what is left to do here is a fill.
            grouped[(ActionKind.FILL, facing.product_id, None, place(facing)[0])].append(facing)
        else:
            grouped[(ActionKind.REPLACE, facing.product_id, other, place(facing)[0])].append(facing)

    actions = list(moves)
    for (kind, product_id, _other, shelf), members in grouped.items():
        positions = sorted({p for p in (place(f)[1] for f in members) if p is not None})
        location = f"{shelf_text(shelf)}, {positions_text(positions)}".rstrip(", ")
        product = name_of(product_id, None)
        count = len(members)
        if kind is ActionKind.FILL:
            out_of_stock = found_on_bay.get(product_id, 1) == 0
            text = f"Fill {_plural(count)} of {product} — {location}"
            if out_of_stock:
                text += " (out of stock: none on the shelf)"
            actions.append(
                _action(
                    kind,
                    text,
                    product_id=product_id,
                    product_name=product,
                    count=count,
                    shelf=shelf,
                    positions=positions,
                    location=location,
                    facing_ids=[f.facing_id for f in members],
                    out_of_stock=out_of_stock,
                )
            )
        else:
            other_id = members[0].found_product_id
            other_name = name_of(other_id, members[0].found_label)
            what = other_name if count == 1 else f"{_plural(count)} of {other_name}"
            actions.append(
                _action(
                    kind,
                    f"Replace {what} with {product} — {location}",
                    product_id=product_id,
                    product_name=product,
                    other_product_id=other_id,
                    other_product_name=other_name,
                    count=count,
                    shelf=shelf,
                    positions=positions,
                    location=location,
                    facing_ids=[f.facing_id for f in members],
                    detection_ids=[
                        f.evidence.detection_id for f in members if f.evidence.detection_id
                    ],
                )
            )

    removals: dict[tuple, list[tuple[UnexpectedProduct, str]]] = defaultdict(list)
    for item in unexpected:
        if item.detection_id in used_extra:
            continue
        shelf = _shelf_of_unexpected(item, layout)
        where = _between_text(item.box.x + item.box.w / 2, facings_by_shelf.get(shelf, []), place)
        product_key = item.product_id or item.label
        removals[(item.kind, product_key, shelf, where)].append((item, where))
    for (kind, _key, shelf, where), members in removals.items():
        first = members[0][0]
        product = name_of(first.product_id, first.label)
        count = len(members)
        location = f"{shelf_text(shelf)}, {where}"
        if kind is UnexpectedKind.EXTRA_FACING and first.product_id:
            what = (
                f"the extra facing of {product}"
                if count == 1
                else (f"{count} extra facings of {product}")
            )
        else:
            what = product if count == 1 else f"{count} facings of {product}"
            what += " (not in this bay's plan)"
        actions.append(
            _action(
                ActionKind.REMOVE,
                f"Remove {what} — {location}",
                product_id=first.product_id,
                product_name=product,
                count=count,
                shelf=shelf,
                positions=[],
                location=location,
                detection_ids=[item.detection_id for item, _ in members],
            )
        )

    actions.extend(_photograph_actions(hidden, layout, place))
    actions.sort(
        key=lambda a: (
            a.priority,
            a.shelf_from_top if a.shelf_from_top is not None else 10**6,
            a.positions_from_left[0] if a.positions_from_left else 10**6,
            a.text,
        )
    )
    for number, action in enumerate(actions, start=1):
        action.number = number
    return actions


def _action(
    kind: ActionKind,
    text: str,
    *,
    product_id: str | None,
    product_name: str | None,
    count: int,
    shelf: int | None,
    positions: list[int],
    location: str,
    facing_ids: list[str] | None = None,
    detection_ids: list[str] | None = None,
    other_product_id: str | None = None,
    other_product_name: str | None = None,
    out_of_stock: bool = False,
) -> Action:
    return Action(
        number=0,
        kind=kind,
        text=text,
        product_id=product_id,
        product_name=product_name,
        other_product_id=other_product_id,
        other_product_name=other_product_name,
        count=count,
        shelf_from_top=shelf,
        positions_from_left=positions,
        location_text=location,
        facing_ids=facing_ids or [],
        detection_ids=detection_ids or [],
        out_of_stock=out_of_stock,
        priority=PRIORITY_OUT_OF_STOCK if out_of_stock else PRIORITY[kind],
    )


def _shelf_of_unexpected(item: UnexpectedProduct, layout: ShelfLayout) -> int | None:
    return None if item.fixture_id is None else layout.shelf_of_fixture.get(item.fixture_id)


def _between_text(x_px: float, shelf_facings: Sequence[FacingResult], place) -> str:  # type: ignore[no-untyped-def]
    """Where a box at ``x_px`` stands among the shelf's planned positions."""
    centres: dict[int, float] = {}
    for facing in shelf_facings:
        position = place(facing)[1]
        if position is not None:
            centres.setdefault(position, facing.expected_box.x + facing.expected_box.w / 2)
    if not centres:
        return "on the shelf"
    left_of = sorted(p for p, c in centres.items() if c < x_px)
    if not left_of:
        return "left end"
    if len(left_of) == len(centres):
        return "right end"
    k = left_of[-1]
    return f"between the {ordinal(k)} and {ordinal(k + 1)} from the left"


def _photograph_actions(hidden: list[FacingResult], layout: ShelfLayout, place) -> list[Action]:  # type: ignore[no-untyped-def]
    by_shelf: dict[int | None, list[FacingResult]] = defaultdict(list)
    for facing in hidden:
        by_shelf[place(facing)[0]].append(facing)
    actions: list[Action] = []
    for shelf, members in by_shelf.items():
        positions = sorted({p for p in (place(f)[1] for f in members) if p is not None})
        total = layout.positions_on_shelf.get(shelf or 0, 0)
        count = len(members)
        if shelf == 1:
            shelf_name = "the top shelf"
        elif shelf is not None and shelf == layout.shelves:
            shelf_name = "the bottom shelf"
        else:
            shelf_name = shelf_text(shelf)
        n = len(positions)
        if positions and n == total:
            text = f"Photograph {shelf_name}: it is not in the photo"
        elif positions and positions == list(range(1, n + 1)):
            text = f"Photograph the left {_plural(n)} of {shelf_name}: not in the photo"
        elif positions and positions == list(range(total - n + 1, total + 1)):
            text = f"Photograph the right {_plural(n)} of {shelf_name}: not in the photo"
        else:
            text = (
                f"Photograph {shelf_name}, {positions_text(positions)}: "
                f"{_plural(count)} not in the photo"
            )
        text = text.replace("left 1 facing", "leftmost facing").replace(
            "right 1 facing", "rightmost facing"
        )
        actions.append(
            _action(
                ActionKind.PHOTOGRAPH,
                text,
                product_id=None,
                product_name=None,
                count=count,
                shelf=shelf,
                positions=positions,
                location=f"{shelf_text(shelf)}, {positions_text(positions)}".rstrip(", "),
                facing_ids=[f.facing_id for f in members],
            )
        )
    return actions


def conclude(
    report: ComplianceReport,
    detections: Detections,
    planogram: Planogram,
    *,
    image_quality: PhotoQuality | Mapping[str, Any] | None = None,
    candidates: Mapping[str, Planogram] | None = None,
    thresholds: TrustThresholds | None = None,
) -> TrustVerdict:
    """Check that ``report`` can be trusted (``compliance.trust.assess``) and, when it can,
    list its actions: sets ``report.trust`` and ``report.actions`` (none when inconclusive).
    Every door that makes a report (the pipeline, ``shelfscan match``) ends here."""
    from shelfscan.compliance.trust import assess

    verdict = assess(
        report, detections, planogram, image_quality, candidates=candidates, thresholds=thresholds
    )
    report.trust = TrustSummary.model_validate(verdict.as_dict())
    report.actions = []
    if verdict.conclusive:
        # Another bay's products (a misplaced item from the next bay) are named too.
        known_names: dict[str, str] = {}
        for other in (candidates or {}).values():
            for product in other.products:
                known_names[product.id] = product.name
                known_names[product.name] = product.name
        report.actions = build_actions(report, planogram, known_names=known_names)
    return verdict
