"""Issue 17: an OpenVINO export runs without ultralytics' predictor (``openvino_direct``) and
gives ultralytics' boxes: same letterbox, same network numbers, same NMS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelfscan.detection.openvino_direct import letterbox
from shelfscan.detection.yolo import YoloDetector
from shelfscan.imaging.decode import Photo

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "planograms" / "models" / "demo-store_openvino_model"
DEMO_PHOTOS = ROOT / "planograms" / "demo-store" / "photos"


def _assert_same_detections(direct, reference) -> None:
    assert len(direct) == len(reference) > 0
    assert list(direct.labels) == list(reference.labels)
    np.testing.assert_allclose(direct.xyxy, reference.xyxy, rtol=0, atol=1e-3)
    np.testing.assert_allclose(direct.confidence, reference.confidence, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "shape", [(1581, 1293), (1293, 1581), (640, 640), (300, 200), (1, 900), (2000, 7)]
)
def test_letterbox_is_ultralytics_letterbox_pixel_for_pixel(shape: tuple[int, int]) -> None:
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(sum(shape))
    bgr = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    expected = LetterBox((640, 640), auto=False, stride=32)(image=bgr)
    got = letterbox(bgr, 640)
    assert got.shape == expected.shape == (640, 640, 3)
    np.testing.assert_array_equal(got, expected)


@pytest.fixture(scope="module")
def demo_detectors():
    pytest.importorskip("openvino")
    if not DEMO_MODEL.exists():
        pytest.skip("demo OpenVINO model not found")
    direct = YoloDetector(DEMO_MODEL, iou_threshold=0.6, max_detections=1000)
    reference = YoloDetector(
        DEMO_MODEL, iou_threshold=0.6, max_detections=1000, direct_openvino=False, warmup=False
    )
    return direct, reference


def test_openvino_model_takes_the_direct_path_by_itself(demo_detectors) -> None:
    direct, reference = demo_detectors
    assert direct.info.details["runner"] == "openvino-direct"
    assert reference.info.details["runner"] == "ultralytics"


@pytest.mark.parametrize("bay", ["drinks", "cereal"])
def test_direct_openvino_boxes_are_ultralytics_boxes_on_a_demo_photo(demo_detectors, bay) -> None:
    direct, reference = demo_detectors
    photo = Photo((DEMO_PHOTOS / f"{bay}.jpg").read_bytes())
    reduced = photo.reduced(800)  # 1/2 scale: 518×800 or so, letterboxed to 640
    assert reduced.factor == 2

    # From the decoded array (the scan path) and from a Pillow image (the CLI path).
    _assert_same_detections(direct.detect_bgr(reduced.bgr), reference.detect(reduced.image))
    _assert_same_detections(direct.detect(photo.full()), reference.detect(photo.full()))


def test_a_fresh_process_gets_ultralytics_order_of_equal_scores(demo_detectors) -> None:
    """Boxes of equal score (bf16 scores often tie) come out of NMS in the same order as from
    ultralytics' predictor, so detection ids stay the same, even in a process where nothing
    else has imported torchvision (ultralytics' NMS orders ties differently without it)."""
    import json
    import subprocess
    import sys

    _, reference = demo_detectors
    photo = DEMO_PHOTOS / "cereal.jpg"  # two boxes tie for the top score
    script = (
        "import json\n"
        "from shelfscan.detection.yolo import YoloDetector\n"
        "from shelfscan.images import load_image\n"
        f"detector = YoloDetector({str(DEMO_MODEL)!r}, iou_threshold=0.6, max_detections=1000)\n"
        f"found = detector.detect(load_image(open({str(photo)!r}, 'rb').read()))\n"
        "print(json.dumps(found.xyxy.tolist()))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    direct = np.array(json.loads(run.stdout.strip().splitlines()[-1]))
    from shelfscan.images import load_image

    expected = reference.detect(load_image(photo.read_bytes()))
    np.testing.assert_allclose(direct, expected.xyxy, rtol=0, atol=1e-3)


def test_a_broken_openvino_export_is_still_a_load_error_naming_it(tmp_path) -> None:
    """The direct runner cannot open it, so ultralytics' path gets it, and its warm-up says
    which file is broken, as before the direct runner."""
    pytest.importorskip("openvino")
    if not DEMO_MODEL.exists():
        pytest.skip("demo OpenVINO model not found")
    from shelfscan.detection.base import ModelLoadError

    broken = tmp_path / "broken_openvino_model"
    broken.mkdir()
    (broken / "metadata.yaml").write_bytes((DEMO_MODEL / "metadata.yaml").read_bytes())
    (broken / "broken.xml").write_text("<net><layers>not a model</net>")
    (broken / "broken.bin").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError) as error:
        YoloDetector(broken)
    assert str(broken) in str(error.value)


@pytest.mark.parametrize(
    "shape", [(1581, 1293), (1293, 1581), (640, 640), (300, 200), (1, 900), (2000, 7)]
)
def test_rectangle_letterbox_is_ultralytics_auto_letterbox(shape: tuple[int, int]) -> None:
    """A dynamic-shape export is fed the smallest rectangle of whole strides, as ultralytics'
    predictor feeds it (``auto=True``)."""
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(sum(shape))
    bgr = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    expected = LetterBox((640, 640), auto=True, stride=32)(image=bgr)
    got = letterbox(bgr, 640, stride=32)
    assert got.shape == expected.shape
    assert got.shape[0] % 32 == 0 and got.shape[1] % 32 == 0 and max(got.shape[:2]) == 640
    np.testing.assert_array_equal(got, expected)


def test_a_dynamic_shape_export_takes_the_direct_path_with_ultralytics_boxes(tmp_path) -> None:
    """An OpenVINO export with dynamic shapes (``export(dynamic=True)``) runs directly too, on
    a rectangle fitted to the photo instead of the square, with the boxes of ultralytics' own
    path for that export."""
    pytest.importorskip("openvino")
    weights = ROOT / "planograms" / "models" / "demo-store.pt"
    if not weights.exists():
        pytest.skip("demo weights not found")
    from typer.testing import CliRunner

    from shelfscan.cli.train import app

    copy = tmp_path / "demo-store.pt"
    copy.write_bytes(weights.read_bytes())
    args = ["export", str(copy), "--format", "openvino", "--imgsz", "640", "--dynamic"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    exported = tmp_path / "demo-store_openvino_model"
    assert f"exported {exported}" in result.output
    direct = YoloDetector(exported, iou_threshold=0.6, max_detections=1000)
    reference = YoloDetector(
        exported, iou_threshold=0.6, max_detections=1000, direct_openvino=False, warmup=False
    )
    assert direct.info.details["runner"] == "openvino-direct"
    photo = Photo((DEMO_PHOTOS / "drinks.jpg").read_bytes())  # 1036×1600: 416×640 in
    _assert_same_detections(direct.detect(photo.full()), reference.detect(photo.full()))
    assert direct._direct._input.shape == (1, 3, 640, 416)  # type: ignore[union-attr]


def test_metadata_saying_dynamic_does_not_send_a_fixed_size_network_the_direct_way() -> None:
    """Fed a rectangle, a fixed-size network would fail: the metadata alone does not decide."""
    pytest.importorskip("openvino")
    if not DEMO_MODEL.exists():
        pytest.skip("demo OpenVINO model not found")
    from shelfscan.detection.openvino_direct import direct_model_problem

    xml = next(DEMO_MODEL.glob("*.xml"))
    fixed = {"task": "detect", "batch": 1, "args": {"dynamic": False}}
    assert direct_model_problem(fixed, xml, 640) is None
    problem = direct_model_problem({**fixed, "args": {"dynamic": True}}, xml, 640)
    assert problem is not None and "expected [?,3,?,?]" in problem
