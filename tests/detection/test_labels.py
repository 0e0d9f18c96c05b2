from __future__ import annotations

import json

import numpy as np
import pytest

from shelfscan.detection.labels import LabelMap, LabelMapError, LabelResolver, normalise_gtin
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
    result = resolver.resolve(
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
    result = resolver.resolve(detections(["triscuit", "ritz", "oreo", "empty", "oreo"]))

    assert list(result.product_ids) == ["0006", "0007", None, None, None]
    assert result.unmapped == {"oreo": 2}
    assert len(result.detections) == 5  # unmapped boxes are kept, under their class name
    assert list(result.detections.labels) == ["0006", "0007", "oreo", "gap", "oreo"]
    assert result.detections.is_gap.tolist() == [False, False, False, True, False]
    assert result.resolved == {"triscuit": "0006", "ritz": "0007"}


def test_null_entries_drop_non_products_on_purpose_and_say_so():
    label_map = LabelMap.from_document({"price_tag": None, "triscuit": "0006"})
    result = LabelResolver(PRODUCTS, label_map).resolve(
        detections(["price_tag", "triscuit", "price_tag"])
    )
    assert list(result.detections.labels) == ["0006"]
    assert result.ignored == {"price_tag": 2}
    assert result.unmapped == {}


def test_alternatives_are_relabelled_keeping_the_best_score():
    label_map = LabelMap.from_document({"a": "0006", "b": "0006", "c": "0007"})
    result = LabelResolver(PRODUCTS, label_map).resolve(
        detections(["a"], alternatives=[{"a": 0.8, "b": 0.6, "c": 0.1}])
    )
    assert result.detections.alternatives == [{"0006": 0.8, "0007": 0.1}]


def test_model_classes_without_a_product_are_listed_for_startup_checks():
    label_map = LabelMap.from_document({"classes": {"shelf_edge": None}})
    resolver = LabelResolver(PRODUCTS, label_map)
    assert resolver.unmapped_classes(["0006", "gap", "shelf_edge", "mystery"]) == ["mystery"]


def test_yaml_label_map(tmp_path):
    path = tmp_path / "labels.yaml"
    path.write_text("classes:\n  triscuit: '0006'\ngap_classes: [hole]\n")
    label_map = LabelMap.load(path)
    assert label_map.classes == {"triscuit": "0006"}
    assert label_map.is_gap("HOLE") and not label_map.is_gap("gap")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected an object"),
        ('{"classes": []}', "'classes' must be an object"),
        ('{"classes": {"a": [1]}}', r"classes\['a'\]"),
        ('{"gap_classes": "gap"}', "'gap_classes' must be a list"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_label_maps_name_the_file_and_entry(tmp_path, content, message):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(LabelMapError, match=message) as error:
        LabelMap.load(path)
    assert str(path) in str(error.value)


def test_missing_label_map_names_the_path(tmp_path):
    with pytest.raises(LabelMapError, match="label map not found"):
        LabelMap.load(tmp_path / "nope.json")


def test_gtin_normalisation():
    assert normalise_gtin("044000032029") == normalise_gtin("0044000032029") == "00044000032029"
    assert normalise_gtin("cola") is None
    assert normalise_gtin("123") is None
