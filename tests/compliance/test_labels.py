"""The one label resolver (``shelfscan.compliance.labels``): its rules and the pipeline's
relabelling of detections with a label map."""

from __future__ import annotations

import json

import numpy as np

from shelfscan.compliance.labels import (
    GAP,
    GENERIC,
    IGNORED,
    UNKNOWN,
    LabelResolver,
    normalise_gtin,
)
from shelfscan.detection.labels import LabelMap
from shelfscan.detections import Detections
from shelfscan.planogram.model import Product

PRODUCTS = [
    Product(id="0006", name="Triscuit Crackers", gtin="044000032029", w=4.9, h=7.8),
    Product(id="0007", name="Nabisco Ritz Original Classic Crackers", w=6.0, h=8.0),
    Product(id="0008", name="Wheat Thins", gtin="0044000029001", w=5.0, h=8.0),
]


def detections(labels: list[str], alternatives=None) -> Detections:
    n = len(labels)
    return Detections.build(
        [[i * 10, 0, i * 10 + 8, 20] for i in range(n)],
        labels,
        np.linspace(0.9, 0.5, n),
        image_width=200,
        image_height=100,
        alternatives=alternatives,
    )


def test_classes_resolve_by_id_name_and_gtin_without_a_map():
    resolver = LabelResolver(PRODUCTS)
    result = resolver.relabel(
        detections(["0006", "nabisco ritz  original classic crackers", "44000029001", "gap"])
    )
    assert list(result.product_ids) == ["0006", "0007", "0008", None]
    assert list(result.detections.labels) == ["0006", "0007", "0008", "gap"]
    assert list(result.detections.is_gap) == [False, False, False, True]
    assert result.unmapped == {}


def test_label_map_renames_and_reports_unmapped_classes_instead_of_dropping_them(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(
        json.dumps(
            {
                "classes": {"triscuit": "0006", "ritz": "Nabisco Ritz Original Classic Crackers"},
                "gap_classes": ["gap", "empty"],
            }
        )
    )
    resolver = LabelResolver(PRODUCTS, LabelMap.load(path))
    result = resolver.relabel(detections(["triscuit", "ritz", "oreo", "empty", "oreo"]))

    assert list(result.product_ids) == ["0006", "0007", None, None, None]
    assert result.unmapped == {"oreo": 2}
    assert len(result.detections) == 5  # unmapped boxes are kept, under their class name
    assert list(result.detections.labels) == ["0006", "0007", "oreo", "gap", "oreo"]
    assert result.detections.is_gap.tolist() == [False, False, False, True, False]
    assert result.resolved == {"triscuit": "0006", "ritz": "0007"}


def test_null_entries_drop_non_products_on_purpose_and_say_so():
    label_map = LabelMap.from_document({"price_tag": None, "triscuit": "0006"})
    result = LabelResolver(PRODUCTS, label_map).relabel(
        detections(["price_tag", "triscuit", "price_tag"])
    )
    assert list(result.detections.labels) == ["0006"]
    assert result.ignored == {"price_tag": 2}
    assert result.unmapped == {}


def test_alternatives_are_relabelled_keeping_the_best_score():
    label_map = LabelMap.from_document({"a": "0006", "b": "0006", "c": "0007"})
    result = LabelResolver(PRODUCTS, label_map).relabel(
        detections(["a"], alternatives=[{"a": 0.8, "b": 0.6, "c": 0.1}])
    )
    assert result.detections.alternatives == [{"0006": 0.8, "0007": 0.1}]


def test_model_classes_without_a_product_are_listed_for_startup_checks():
    label_map = LabelMap.from_document({"classes": {"shelf_edge": None}})
    resolver = LabelResolver(PRODUCTS, label_map)
    assert resolver.unmapped_classes(["0006", "gap", "shelf_edge", "mystery"]) == ["mystery"]


def test_gtin_normalisation():
    assert normalise_gtin("044000032029") == normalise_gtin("0044000032029") == "00044000032029"
    assert normalise_gtin("cola") is None
    assert normalise_gtin("123") is None


def test_union_of_the_rules_every_path_used_to_apply_separately():
    label_map = LabelMap.from_document({"classes": {"ritz": "0007", "price_tag": None}})
    resolver = LabelResolver(PRODUCTS, label_map)
    assert resolver.resolve("ritz") == 1  # label map → product name
    assert resolver.resolve("044000032029") == 0  # UPC-A as the product's GTIN
    assert resolver.resolve("00044000032029") == 0  # the same GTIN-14
    assert resolver.resolve("4400-0029 001") == 2  # dashes and spaces ignored, vs EAN-13
    assert resolver.resolve("  WHEAT   thins ") == 2  # name, any case and spacing
    assert resolver.resolve("0008") == 2  # id
    assert resolver.resolve("product") == resolver.resolve("Product") == GENERIC
    assert resolver.resolve("gap") == GAP
    assert resolver.resolve("price_tag") == IGNORED
    assert resolver.resolve("oreo") == UNKNOWN
    assert resolver.unmapped_classes(["ritz", "product", "price_tag", "gap", "oreo"]) == ["oreo"]
    assert resolver.product_for("ritz") == PRODUCTS[1]
    assert resolver.product_for("product") is None


def test_precedence_is_the_documented_one():
    products = [
        Product(id="a", name="B", w=1, h=1),
        Product(id="B", name="Shared", gtin="12345670", w=1, h=1),
        Product(id="x1", name="12345670", w=1, h=1),
        Product(id="x2", name="Shared", w=1, h=1),
        Product(id="x3", name="a", w=1, h=1),
        Product(id="product", name="Not generic", w=1, h=1),
    ]
    label_map = LabelMap.from_document({"classes": {"B": "x2"}, "gap_classes": ["gap", "a"]})
    plain = LabelResolver(products)
    assert plain.resolve("a") == 0  # exact id before a name
    assert plain.resolve("b") == 1  # id ignoring case before another product's name
    assert plain.resolve("12345670") == 1  # GTIN before names
    assert plain.resolve("00000012345670") == 1  # compared as GTIN-14
    assert plain.resolve("shared") == 1  # first product in planogram order wins
    assert plain.resolve("PRODUCT") == GENERIC  # generic before ids
    mapped = LabelResolver(products, label_map)
    assert mapped.resolve("B") == 3  # the label map before ids
    assert mapped.resolve("A") == GAP  # gap classes before everything


def test_relabelled_generic_boxes_are_kept_and_not_reported_unmapped():
    label_map = LabelMap.from_document({"classes": {}})
    result = LabelResolver(PRODUCTS, label_map).relabel(
        detections(["product", "044000032029", "Oreo"])
    )
    assert list(result.detections.labels) == ["product", "0006", "Oreo"]
    assert list(result.product_ids) == [None, "0006", None]
    assert result.unmapped == {"Oreo": 1}


def test_engine_codes_and_plausible_products():
    resolver = LabelResolver(
        [Product(id="0001", name="Chicken In A Biskit", gtin="0044000012345", w=5, h=8)]
    )
    assert resolver.resolve("44000012345") == 0  # UPC-A vs EAN-13 (was UNKNOWN to the engine)
    assert resolver.plausible("product", {"product": 0.9, "044000012345": 0.6}, 0.5) == (0,)
    assert resolver.plausible_many(["gap", "0001"], None, 0.5, [False, True]) == [(), ()]
