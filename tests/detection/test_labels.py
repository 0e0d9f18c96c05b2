from __future__ import annotations

import pytest

from shelfscan.detection.labels import LabelMap, LabelMapError


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
