from __future__ import annotations

import json

import numpy as np

from shelfscan.synth.scene import (
    FacingStatus,
    ObjectRole,
    SceneConfig,
    ShelfRenderer,
    apply_homography,
)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_clean_render_labels_every_facing_where_the_planogram_puts_it(planogram):
    scene = ShelfRenderer([planogram], config=SceneConfig.clean(320)).render(0)
    facings = planogram.facings()
    assert max(scene.image.size) == 320
    assert len(scene.objects) == len(facings) == 8
    assert all(f.status is FacingStatus.OK for f in scene.facings)
    by_facing = {o.facing_id: o for o in scene.objects}
    for facing in facings:
        obj = by_facing[facing.facing_id]
        assert obj.product_id == facing.product_id
        assert obj.role is ObjectRole.FACING
        # The label is the facing's planogram rectangle taken through the scene's homography.
        corners = np.array([[facing.x, facing.y], [facing.x + facing.w, facing.y + facing.h]])
        (x1, y1), (x2, y2) = apply_homography(scene.homography, corners)
        assert _iou(obj.xyxy, (x1, y1, x2, y2)) > 0.9


def test_pixels_under_a_label_show_that_product(planogram):
    renderer = ShelfRenderer([planogram], config=SceneConfig.clean(480))
    scene = renderer.render(1)
    image = np.asarray(scene.image, np.float32)
    for obj in scene.objects:
        x1, y1, x2, y2 = (round(v) for v in obj.xyxy)
        crop = image[y1 + 3 : y2 - 3, x1 + 3 : x2 - 3].mean((0, 1))
        face = renderer.faces[obj.product_id].resize((x2 - x1, y2 - y1))
        expected = np.asarray(face, np.float32)[3:-3, 3:-3].mean((0, 1))
        assert np.abs(crop - expected).max() < 20, obj.product_id


def test_gaps_leave_facings_empty_and_unlabelled(planogram):
    config = SceneConfig(
        image_size=256, gap_rate=1.0, misplace_rate=0, unexpected_rate=0, neighbour_rate=0
    )
    scene = ShelfRenderer([planogram], config=config).render(2)
    assert all(f.status is FacingStatus.GAP and f.actual_product_id is None for f in scene.facings)
    assert not [o for o in scene.objects if o.role in (ObjectRole.FACING, ObjectRole.MISPLACED)]


def test_misplaced_facings_hold_another_product(planogram):
    config = SceneConfig(
        image_size=256, gap_rate=0, misplace_rate=1.0, neighbour_rate=0, unexpected_rate=0
    )
    scene = ShelfRenderer([planogram], config=config).render(3)
    assert all(f.status is FacingStatus.MISPLACED for f in scene.facings)
    for facing in scene.facings:
        assert facing.actual_product_id not in (None, facing.expected_product_id)
    roles = {o.facing_id: o for o in scene.objects}
    assert all(
        roles[f.facing_id].product_id == f.actual_product_id
        for f in scene.facings
        if f.facing_id in roles
    )


def test_same_seed_same_render_other_seed_other_render(planogram):
    renderer = ShelfRenderer([planogram])
    a, b, c = renderer.render(7), renderer.render(7), renderer.render(8)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert a.truth_document() == b.truth_document()
    assert a.image.size != c.image.size or not np.array_equal(
        np.asarray(a.image), np.asarray(c.image)
    )


def test_random_renders_keep_labels_inside_the_image_and_truth_consistent(planogram):
    renderer = ShelfRenderer(
        [planogram], config=SceneConfig(image_size=256, gap_rate=0.2, misplace_rate=0.2)
    )
    statuses = set()
    for seed in range(12):
        scene = renderer.render(seed)
        w, h = scene.image.size
        for obj in scene.objects:
            x1, y1, x2, y2 = obj.xyxy
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        document = json.loads(json.dumps(scene.truth_document()))
        assert len(document["facings"]) == len(planogram.facings())
        counts = document["summary"]
        assert counts["ok"] + counts["gap"] + counts["misplaced"] == len(planogram.facings())
        statuses.update(f.status for f in scene.facings)
        # A facing is labelled as holding a product only when its object is in the labels.
        labelled = {o.facing_id for o in scene.objects if o.facing_id}
        for facing in scene.facings:
            if facing.facing_id in labelled:
                assert facing.status is not FacingStatus.GAP
    assert statuses == {FacingStatus.OK, FacingStatus.GAP, FacingStatus.MISPLACED}


def test_truth_detections_match_objects(planogram):
    scene = ShelfRenderer([planogram], config=SceneConfig.clean(256)).render(0)
    names = {p.id: p.name for p in planogram.products}
    detections = scene.truth_detections(names)
    assert len(detections) == len(scene.objects)
    assert set(detections.labels) == {"Cola 330ml", "Lemonade 330ml", "Salt Chips"}
    assert (detections.image_width, detections.image_height) == scene.image.size
