"""``shelfscan corrections export --format yolo``: reviewed scans become a YOLO dataset whose
labels carry the corrected verdicts, in the renderer's layout and class map."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from shelfscan.api.app import create_app
from shelfscan.cli.main import app as cli
from shelfscan.db.models import Scan
from shelfscan.db.session import session_scope
from shelfscan.settings import Settings, get_settings
from tests.corrections.test_corrections_flow import CONFUSED, STORE, TRUE, world

__all__ = ["world"]


def _labels(out: Path) -> dict[str, list[tuple[int, float, float, float, float]]]:
    found = {}
    for path in sorted(out.glob("labels/*/*.txt")):
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        found[path.stem] = [(int(r[0]), *map(float, r[1:])) for r in rows]
    return found


def _center(box: dict[str, float], image: Image.Image) -> tuple[float, float]:
    return (box["x"] + box["w"] / 2) / image.width, (box["y"] + box["h"] / 2) / image.height


def _label_at(rows: list[tuple[int, float, float, float, float]], xy: tuple[float, float]) -> int:
    hits = [r[0] for r in rows if abs(r[1] - xy[0]) < 1e-3 and abs(r[2] - xy[1]) < 1e-3]
    assert len(hits) == 1, f"expected one label at {xy}, found {hits}"
    return hits[0]


def _correct(client: TestClient, scan_id: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"/api/v1/stores/{STORE}/scans/{scan_id}/corrections", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["scan"]["report"]


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()  # the CLI reads SHELFSCAN_* through the cached settings
    yield
    get_settings.cache_clear()


def _export(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("SHELFSCAN_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["corrections", "export", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_export_labels_carry_the_corrected_products(
    settings: Settings, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    report = world["report"].model_dump(mode="json")
    image = world["image"]
    wrong = [f for f in report["facings"] if f["product_id"] == TRUE]
    ok = next(f for f in report["facings"] if f["status"] == "ok")
    with TestClient(create_app(settings)) as client:
        _correct(
            client,
            world["scan_id"],
            {"kind": "product", "facing_id": wrong[0]["facing_id"], "product_id": TRUE},
        )
        _correct(client, world["scan_id"], {"kind": "gap", "facing_id": ok["facing_id"]})
    # A scan nobody reviewed is not exported.
    with session_scope(settings.resolved_database_url) as session:
        reviewed = session.get(Scan, world["scan_id"])
        session.add(
            Scan(
                id=str(uuid.uuid4()),
                store_id=reviewed.store_id,
                bay_id=reviewed.bay_id,
                planogram_version_id=reviewed.planogram_version_id,
                status="done",
                report=reviewed.report,
            )
        )

    out = tmp_path / "field"
    printed = _export(settings, monkeypatch, "--format", "yolo", "--out", str(out))
    assert "1 val reviewed photos" in printed or "1 train + 0 val reviewed photos" in printed
    spec = yaml.safe_load((out / "data.yaml").read_text())
    assert (spec["train"], spec["val"]) == ("images/train", "images/val")
    classes = json.loads((out / "classes.json").read_text())["classes"]
    class_of = {c["product_id"]: c["index"] for c in classes}
    assert spec["names"] == {c["index"]: c["name"] for c in classes}
    labels = _labels(out)
    stem = f"field_{STORE}_{world['scan_id']}"
    assert list(labels) == [stem]
    rows = labels[stem]
    (photo,) = out.glob(f"images/*/{stem}.jpg")  # the split follows a hash of the scan id
    split = photo.parent.name
    written = Image.open(photo)
    assert written.size == image.size
    # The corrected facing is labelled with the product the person named; the one nobody
    # corrected keeps the detector's (wrong) product; the "gap" facing has no label.
    corrected_box = wrong[0]["evidence"]["box"]
    assert _label_at(rows, _center(corrected_box, image)) == class_of[TRUE]
    assert _label_at(rows, _center(wrong[1]["evidence"]["box"], image)) == class_of[CONFUSED]
    gap_xy = _center(ok["evidence"]["box"], image)
    assert not [r for r in rows if abs(r[1] - gap_xy[0]) < 1e-3 and abs(r[2] - gap_xy[1]) < 1e-3]
    # Boxes of products outside the planogram that nobody named stay unlabelled.
    labelled = [
        f for f in report["facings"] if f["status"] in ("ok", "misplaced") and f["found_product_id"]
    ]
    assert len(rows) == len(labelled) - 1
    review = json.loads((out / "reviews" / split / f"{stem}.json").read_text())
    assert [c["kind"] for c in review["corrections"]] == ["product", "gap"]
    assert review["report_version"] == 3

    # --classes keeps a model's class indices; products it lacks are appended.
    given = tmp_path / "classes.json"
    given.write_text(
        json.dumps(
            {"classes": [{"index": 0, "name": "Other thing", "product_id": TRUE, "gtin": None}]}
        )
    )
    again = tmp_path / "field2"
    _export(settings, monkeypatch, "--out", str(again), "--classes", str(given))
    classes = json.loads((again / "classes.json").read_text())["classes"]
    assert classes[0]["product_id"] == TRUE and classes[0]["index"] == 0
    assert _label_at(_labels(again)[stem], _center(corrected_box, image)) == 0


def test_export_refuses_an_unknown_format_and_leaves_out_other_bays(
    settings: Settings, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHELFSCAN_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("SHELFSCAN_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    bad = CliRunner().invoke(
        cli, ["corrections", "export", "--format", "coco", "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code != 0 and "--format" in bad.output
    with TestClient(create_app(settings)) as client:
        _correct(client, world["scan_id"], {"kind": "not_this_bay"})
    printed = _export(settings, monkeypatch, "--out", str(tmp_path / "out"))
    assert "0 train + 0 val" in printed and "not this bay" in printed
    assert not list((tmp_path / "out").glob("images/*/*.jpg"))


def test_export_scales_boxes_to_the_stored_photo(
    settings: Settings, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Boxes are in the analysed image's pixels; a stored photo of another size gets them
    scaled (normalised labels are the same)."""
    from shelfscan.services.scans import photo_key
    from shelfscan.storage import get_storage

    report = world["report"].model_dump(mode="json")
    wrong = [f for f in report["facings"] if f["product_id"] == TRUE]
    half = world["image"].resize((world["image"].width // 2, world["image"].height // 2))
    data = io.BytesIO()
    half.save(data, "JPEG")
    get_storage(settings).put(photo_key(STORE, world["scan_id"], 0), data.getvalue(), "image/jpeg")
    with TestClient(create_app(settings)) as client:
        _correct(
            client,
            world["scan_id"],
            {"kind": "product", "facing_id": wrong[0]["facing_id"], "product_id": TRUE},
        )
    out = tmp_path / "out"
    _export(settings, monkeypatch, "--out", str(out), "--val-fraction", "0")
    rows = _labels(out)[f"field_{STORE}_{world['scan_id']}"]
    classes = json.loads((out / "classes.json").read_text())["classes"]
    true_class = next(c["index"] for c in classes if c["product_id"] == TRUE)
    box = wrong[0]["evidence"]["box"]
    assert _label_at(rows, _center(box, world["image"])) == true_class
