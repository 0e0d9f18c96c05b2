"""Write the example renders shown in the docs (docs/images/render-*.jpg).

.venv/bin/python scripts/render_doc_examples.py [--azure-sample DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shelfscan.planogram.azure_json import import_azure_planogram  # noqa: E402
from shelfscan.settings import AZURE_SAMPLE_DIR  # noqa: E402
from shelfscan.synth.packaging import load_front_faces  # noqa: E402
from shelfscan.synth.scene import ObjectRole, SceneConfig, ShelfRenderer  # noqa: E402

COLOURS = {
    ObjectRole.FACING: (40, 220, 40),
    ObjectRole.MISPLACED: (255, 140, 0),
    ObjectRole.UNEXPECTED: (230, 40, 230),
    ObjectRole.NEIGHBOUR: (60, 160, 255),
}


def save(image, path: Path) -> None:
    quality = 85
    while True:
        image.save(path, quality=quality, optimize=True)
        if path.stat().st_size <= 150_000 or quality <= 40:
            break
        quality -= 10
    print(f"{path} {path.stat().st_size // 1000} KB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--azure-sample", type=Path, default=AZURE_SAMPLE_DIR)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    planogram = import_azure_planogram(
        json.loads((args.azure_sample / "sample_planogram.json").read_text()),
        planogram_id="azure-sample",
    )
    config = SceneConfig(image_size=720)
    packshots = load_front_faces(planogram.products, search_dirs=[args.azure_sample / "catalog"])
    placeholders = load_front_faces(planogram.products, placeholders_only=True)
    for name, faces, seed, boxes in (
        ("render-packshots", packshots, 11, False),
        ("render-packshots-labels", packshots, 12, True),
        ("render-placeholders", placeholders, 13, False),
    ):
        scene = ShelfRenderer([planogram], faces, config).render(seed)
        image = scene.image.copy()
        if boxes:
            draw = ImageDraw.Draw(image)
            for obj in scene.objects:
                draw.rectangle(obj.xyxy, outline=COLOURS[obj.role], width=2)
            for facing in scene.facings:
                if facing.status.value == "gap" and facing.xyxy and facing.in_frame:
                    draw.rectangle(facing.xyxy, outline=(255, 30, 30), width=3)
        save(image, args.out / f"{name}.jpg")


if __name__ == "__main__":
    main()
