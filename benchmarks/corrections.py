"""Corrections that teach (issue 18): how much one person's corrections improve the next scans.

1. The real Azure sample, split into a left and a right part (separate scans). Boxes are
   Azure's own (``sample_customized_recognition_result.json``, replayed), labels come from the
   packshot recogniser on the crops. Corrections (and, in the "review" protocol, confirmations
   too) of the left part join the gallery; the right part is scanned again with packshots +
   gallery. Printed: labels right on the right part before and after, boxes fixed and broken,
   and whether the products wrong on the right stand on the left at all (at the centre line
   they do not: all three mislabelled Rosemary packs stand right of it, so the split just
   after the first of them is printed too). Then the risk of teaching: every crop of one
   product in the gallery, the other products' boxes named again (flavour siblings).
2. Renders whose packaging changed after the packshots were taken (recoloured and re-laid-out
   fronts for 20 % of the products): labels right before corrections and after one correction
   per changed product (a crop from the first render), on the other renders; fixed, broken.
3. The review queue: the share of all wrong labels found in its top 10 %, expected benefit
   from the recogniser's margin (and the detector's confidence) alone, and with the verdict
   the plan gives each box (``status``: ok, misplaced, unexpected) and whether the plan
   corroborates it (``Signals.plan_agreement``).

    .venv/bin/python benchmarks/corrections.py [--renders 12]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shelfscan.corrections.accuracy import Signals, expected_benefit, top_share_wrong  # noqa: E402
from shelfscan.corrections.gallery import (  # noqa: E402
    Gallery,
    GalleryExample,
    GalleryRecogniser,
    crops_of,
)
from shelfscan.planogram.azure_json import import_azure_planogram  # noqa: E402
from shelfscan.settings import AZURE_SAMPLE_DIR  # noqa: E402
from shelfscan.synth.packaging import load_front_faces  # noqa: E402
from shelfscan.synth.recognition import PackshotRecogniser  # noqa: E402
from shelfscan.synth.scene import FOREIGN_PREFIX, SceneConfig, ShelfRenderer  # noqa: E402


def top(ranked: dict[str, float]) -> str | None:
    return next(iter(ranked), None)


def margin(ranked: dict[str, float]) -> float:
    values = [*ranked.values(), 0.0, 0.0]
    return values[0] - values[1]


def azure_sample() -> dict[str, object]:
    planogram = import_azure_planogram(
        json.loads((AZURE_SAMPLE_DIR / "sample_planogram.json").read_text()),
        planogram_id="azure-sample",
    )
    ids = {p.name: p.id for p in planogram.products}
    names = {p.id: p.name for p in planogram.products}
    faces = load_front_faces(planogram.products, search_dirs=[AZURE_SAMPLE_DIR / "catalog"])
    photo = ImageOps.exif_transpose(Image.open(AZURE_SAMPLE_DIR / "sample_image.jpg"))
    photo = photo.convert("RGB")
    reference = json.loads(
        (AZURE_SAMPLE_DIR / "sample_customized_recognition_result.json").read_text()
    )["products"]
    boxes = np.array(
        [
            [
                b["boundingBox"]["x"],
                b["boundingBox"]["y"],
                b["boundingBox"]["x"] + b["boundingBox"]["w"],
                b["boundingBox"]["y"] + b["boundingBox"]["h"],
            ]
            for b in reference
        ],
        float,
    )
    truth = [ids[b["tags"][0]["name"]] for b in reference]
    confidence = [float(b["tags"][0]["confidence"]) for b in reference]
    recogniser = PackshotRecogniser(faces, aspects={p.id: p.w / p.h for p in planogram.products})
    return {
        "planogram": planogram,
        "names": names,
        "photo": photo,
        "boxes": boxes,
        "truth": truth,
        "confidence": confidence,
        "recogniser": recogniser,
    }


def split_scan(sample: dict, split_x: float, *, confirm: bool) -> dict[str, int]:
    """Left part reviewed, right part re-scanned; each part is its own image (a separate
    scan), boxes moved into it. Returns the right part's labels right before and after, the
    boxes the gallery fixed and broke, the right part's boxes and the gallery's crops."""
    photo, boxes, truth = sample["photo"], sample["boxes"], sample["truth"]
    names, recogniser = sample["names"], sample["recogniser"]
    centre = (boxes[:, 0] + boxes[:, 2]) / 2
    left_img = photo.crop((0, 0, round(split_x), photo.height))
    right_img = photo.crop((round(split_x), 0, photo.width, photo.height))
    left = np.flatnonzero(centre < split_x)
    right = np.flatnonzero(centre >= split_x)
    shift = np.array([split_x, 0, split_x, 0])
    left_boxes = np.clip(boxes[left], 0, [left_img.width, photo.height] * 2)
    right_boxes = np.clip(boxes[right] - shift, 0, [right_img.width, photo.height] * 2)
    left_crops = crops_of(left_img, left_boxes)
    left_labels = [top(r) for r in recogniser.recognise_boxes(left_img, left_boxes)]
    gallery = Gallery([])
    for i, crop, label in zip(left, left_crops, left_labels, strict=True):
        if crop is None or (label == truth[i] and not confirm):
            continue  # a right label is only added when the reviewer confirms it
        gallery.add(GalleryExample.from_crop(truth[i], names[truth[i]], crop))
    before = [top(r) for r in recogniser.recognise_boxes(right_img, right_boxes)]
    after_recogniser = GalleryRecogniser(recogniser, gallery)
    after = [top(r) for r in after_recogniser.recognise_boxes(right_img, right_boxes)]
    right_truth = [truth[i] for i in right]
    return {
        "before": sum(b == t for b, t in zip(before, right_truth, strict=True)),
        "after": sum(a == t for a, t in zip(after, right_truth, strict=True)),
        **fixed_broken(before, after, right_truth),
        "boxes": len(right),
        "gallery": len(gallery),
        "wrong_products": len({t for b, t in zip(before, right_truth, strict=True) if b != t}),
        "taught_products": len(
            {t for b, t in zip(before, right_truth, strict=True) if b != t}
            & {truth[i] for i in left}
        ),
    }


def fixed_broken(before: list, after: list, truth: list) -> dict[str, int]:
    """Boxes the gallery made right (wrong before) and made wrong (right before)."""
    pairs = list(zip(before, after, truth, strict=True))
    return {
        "fixed": sum(b != t and a == t for b, a, t in pairs),
        "broken": sum(b == t and a != t for b, a, t in pairs),
    }


def sibling_safety(sample: dict) -> dict[str, int]:
    """The risk of teaching: for each product in turn, every crop of it on the Azure photo
    joins the gallery (a reviewer vouched for all of them); the boxes of every *other* product
    are named again. Counts the right labels that turn wrong (flavour siblings of one design
    are the danger) over all products' turns."""
    photo, boxes, truth, names = (sample[k] for k in ("photo", "boxes", "truth", "names"))
    recogniser = sample["recogniser"]
    crops = crops_of(photo, boxes)
    before = [top(r) for r in recogniser.recognise_boxes(photo, boxes)]
    totals = {"products": 0, "boxes": 0, "broken": 0, "fixed": 0}
    for product in sorted(set(truth)):
        gallery = Gallery(
            [
                GalleryExample.from_crop(product, names[product], crop)
                for crop, t in zip(crops, truth, strict=True)
                if t == product and crop is not None
            ]
        )
        others = [i for i, t in enumerate(truth) if t != product and crops[i] is not None]
        after_recogniser = GalleryRecogniser(recogniser, gallery)
        after = [top(after_recogniser.rank(crops[i])) for i in others]
        counts = fixed_broken([before[i] for i in others], after, [truth[i] for i in others])
        totals["products"] += 1
        totals["boxes"] += len(others)
        totals["broken"] += counts["broken"]
        totals["fixed"] += counts["fixed"]
    return totals


def changed_faces(faces: dict[str, Image.Image], changed: list[str]) -> dict[str, Image.Image]:
    """New packaging: hue turned by a third and the front mirrored (a re-laid-out design)."""
    out = dict(faces)
    for product_id in changed:
        hsv = np.asarray(faces[product_id].convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(int) + 85) % 256
        out[product_id] = ImageOps.mirror(Image.fromarray(hsv, "HSV").convert("RGB"))
    return out


def renders(sample: dict, n: int, share: float = 0.2) -> dict[str, float]:
    planogram = sample["planogram"]
    faces = load_front_faces(planogram.products, search_dirs=[AZURE_SAMPLE_DIR / "catalog"])
    product_ids = sorted(faces)
    rng = np.random.default_rng(18)
    changed = sorted(
        rng.choice(product_ids, max(1, round(share * len(product_ids))), replace=False)
    )
    renderer = ShelfRenderer(
        [planogram], changed_faces(faces, changed), SceneConfig(image_size=1024)
    )
    recogniser = sample["recogniser"]
    scenes = [renderer.render(seed) for seed in range(n)]

    def labelled(scene):
        objects = [o for o in scene.objects if not o.product_id.startswith(FOREIGN_PREFIX)]
        boxes = np.array([o.xyxy for o in objects], float).reshape(-1, 4)
        return objects, boxes, crops_of(scene.image, boxes)

    # One correction per changed product: its first crop in the first render that shows it.
    gallery = Gallery([])
    for product_id in changed:
        for scene in scenes:
            objects, _, crops = labelled(scene)
            hit = [
                c for o, c in zip(objects, crops, strict=True) if o.product_id == product_id and c
            ]
            if hit:
                gallery.add(GalleryExample.from_crop(product_id, product_id, hit[0]))
                break
    after_recogniser = GalleryRecogniser(recogniser, gallery)
    # A scan without packshots to weigh the gallery against (``with_gallery`` without a
    # ``packshot_dir``): the gallery decides only when as alike as the same pack.
    alone = GalleryRecogniser(recogniser, gallery, lead=math.inf)
    totals = {
        "boxes": 0,
        "before": 0,
        "after": 0,
        "fixed": 0,
        "broken": 0,
        "changed": 0,
        "changed_before": 0,
        "changed_after": 0,
        "changed_alone": 0,
    }
    queue = {"margin": [], "plan": [], "after": []}
    wrong, wrong_after = [], []
    for scene in scenes[1:]:
        planned = {f.facing_id: f.expected_product_id for f in scene.facings}
        objects, _, crops = labelled(scene)
        for obj, crop in zip(objects, crops, strict=True):
            if crop is None:
                continue
            ranked = recogniser.rank(crop)
            ranked_after = after_recogniser.rank(crop)
            before, after = top(ranked) == obj.product_id, top(ranked_after) == obj.product_id
            totals["boxes"] += 1
            totals["before"] += before
            totals["after"] += after
            totals["fixed"] += after and not before
            totals["broken"] += before and not after
            if obj.product_id in changed:
                totals["changed"] += 1
                totals["changed_before"] += before
                totals["changed_after"] += after
                totals["changed_alone"] += top(alone.rank(crop)) == obj.product_id
            plan = planned.get(obj.facing_id) if obj.facing_id else None
            queue["margin"].append(benefit(ranked, plan, with_plan=False))
            queue["plan"].append(benefit(ranked, plan, with_plan=True))
            queue["after"].append(benefit(ranked_after, plan, with_plan=True))
            wrong.append(not before)
            wrong_after.append(not after)
    for name, benefits in queue.items():
        totals[f"queue_{name}"] = top_share_wrong(
            benefits, wrong_after if name == "after" else wrong
        )
    totals["queue_wrong"] = sum(wrong)
    totals["queue_wrong_after"] = sum(wrong_after)
    totals["changed_products"] = len(changed)
    return totals


def benefit(
    ranked: dict[str, float],
    planned: str | None,
    *,
    with_plan: bool,
    confidence: float | None = None,
) -> float:
    """The review queue's expected benefit of a box's verdict: from the recognition margin
    (and the detector's confidence where known) alone, as every verdict were "ok", or also
    from the verdict the plan gives it (``status``) and whether the plan corroborates it."""
    doubt = Signals(confidence=confidence, recognition_margin=margin(ranked))
    if not with_plan:
        return expected_benefit("ok", doubt)
    verdict = status(top(ranked), planned)
    agrees = {"ok": 1.0, "misplaced": 0.0}.get(verdict)
    return expected_benefit(verdict, replace(doubt, plan_agreement=agrees))


def status(label: str | None, planned: str | None) -> str:
    """The verdict the report would give a box named ``label`` where ``planned`` stands."""
    if planned is None:
        return "unexpected"
    return "ok" if label == planned else "misplaced"


def planned_products(sample: dict) -> list[str]:
    """The planogram's product at each Azure box: the facing whose centre is nearest once the
    planogram's extent is stretched over the boxes' extent (a registration that needs no
    model: the sample's shelf fills the photo)."""
    facings = sample["planogram"].facings()
    boxes = sample["boxes"]
    units = np.array([[f.x, f.y, f.x + f.w, f.y + f.h] for f in facings], float)
    low, high = units[:, :2].min(0), units[:, 2:].max(0)
    px_low, px_high = boxes[:, :2].min(0), boxes[:, 2:].max(0)
    centres = ((units[:, :2] + units[:, 2:]) / 2 - low) / (high - low) * (px_high - px_low)
    centres += px_low
    box_centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    nearest = ((box_centres[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    return [facings[i].product_id for i in nearest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=12)
    args = parser.parse_args()
    sample = azure_sample()
    photo, boxes, truth = sample["photo"], sample["boxes"], sample["truth"]
    ranked = sample["recogniser"].recognise_boxes(photo, boxes)
    labels = [top(r) for r in ranked]
    right_whole = sum(a == t for a, t in zip(labels, truth, strict=True))
    print(f"Azure sample, recogniser on Azure's boxes, whole photo: {right_whole}/{len(truth)}")

    halves = photo.width / 2
    wrong_x = sorted(boxes[i, 2] for i in range(len(truth)) if labels[i] != truth[i])
    splits = [("halves (centre line)", halves)]
    if wrong_x:
        splits.append(("after the first mislabelled pack", float(wrong_x[0]) + 1))
    for name, split_x in splits:
        for protocol, confirm in (("corrections only", False), ("review: confirm + correct", True)):
            r = split_scan(sample, split_x, confirm=confirm)
            n = r["boxes"]
            print(
                f"  split {name} at x={split_x:.0f}, {protocol}: right part labels right "
                f"{r['before']}/{n} ({r['before'] / n:.1%}) before, {r['after']}/{n} "
                f"({r['after'] / n:.1%}) after; fixed {r['fixed']}, broken {r['broken']} "
                f"(gallery {r['gallery']} crops; {r['taught_products']} of the "
                f"{r['wrong_products']} products wrong on the right stand on the left)"
            )
    safety = sibling_safety(sample)
    print(
        f"  sibling safety (every crop of one product in the gallery, each of the "
        f"{safety['products']} products in turn): {safety['broken']} of {safety['boxes']} "
        f"other products' boxes broken, {safety['fixed']} fixed"
    )

    planned = planned_products(sample)
    wrong = [a != t for a, t in zip(labels, truth, strict=True)]
    for name, with_plan in (("margin only", False), ("margin + plan", True)):
        benefits = [
            benefit(r, plan, with_plan=with_plan, confidence=c)
            for c, r, plan in zip(sample["confidence"], ranked, planned, strict=True)
        ]
        share = top_share_wrong(benefits, wrong)
        print(
            f"  review queue ({name}; whole photo, {sum(wrong)} wrong of {len(wrong)}): "
            f"{share:.0%} of the wrong labels in the top 10 % ({math.ceil(len(wrong) / 10)} items)"
        )

    totals = renders(sample, args.renders)
    n, c = totals["boxes"], totals["changed"]
    print(
        f"Renders with new packaging for {totals['changed_products']} of "
        f"{len(sample['names'])} products ({args.renders - 1} renders scored):"
    )
    print(
        f"  all boxes: {totals['before']}/{n} ({totals['before'] / n:.1%}) before, "
        f"{totals['after']}/{n} ({totals['after'] / n:.1%}) after one correction"
        f" per changed product; fixed {totals['fixed']}, broken {totals['broken']}"
    )
    print(
        f"  changed products' boxes: {totals['changed_before']}/{c} "
        f"({totals['changed_before'] / max(c, 1):.1%}) before, {totals['changed_after']}/{c} "
        f"({totals['changed_after'] / max(c, 1):.1%}) after; "
        f"{totals['changed_alone']}/{c} without packshots to weigh the gallery against"
    )
    print(
        f"  review queue, before corrections ({totals['queue_wrong']} wrong): "
        f"{totals['queue_margin']:.0%} of the wrong labels in the top 10 % "
        f"(margin only), {totals['queue_plan']:.0%} (margin + plan); "
        f"after ({totals['queue_wrong_after']} wrong): {totals['queue_after']:.0%}"
    )


if __name__ == "__main__":
    main()
