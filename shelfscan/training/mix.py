"""Mix extra YOLO datasets (reviewed field photos from ``shelfscan corrections export``) into
a render dataset, for ``shelfscan train --extra-data DIR``.

The mixed dataset is an ordinary YOLO folder (``data.yaml``, ``classes.json``,
``images/{train,val}``, ``labels/{train,val}``) whose images link to the originals (a copy
where links are not possible) and whose label files are rewritten into one class map: the
base dataset's classes keep their indices (its renders' labels stay as they are), an extra
class is matched to a base class by product id (by name for classes without one, e.g.
``other``), and a product only the extra data knows becomes a new class at the end. Extra
training images can be repeated (``repeat``): a few dozen reviewed photos next to thousands
of renders would otherwise hardly count.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from shelfscan.synth.dataset import ClassEntry, write_dataset_index

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
SPLITS = ("train", "val")


@dataclass
class MixedDataset:
    out_dir: Path
    data_yaml: Path
    classes: list[ClassEntry]
    images: dict[str, int]  # split -> images in the mix
    extra_images: dict[str, int]  # split -> of which from the extra datasets (repeats counted)
    added_classes: list[str] = field(default_factory=list)  # products only the extra data had


@dataclass(frozen=True)
class _Dataset:
    root: Path
    name: str
    classes: list[ClassEntry]
    split_dirs: dict[str, Path]


def _load(location: Path) -> _Dataset:
    """A YOLO dataset from its folder or its ``data.yaml``; errors name the file and field."""
    data_yaml = location / "data.yaml" if location.is_dir() else location
    if not data_yaml.is_file():
        raise ValueError(f"{location}: no data.yaml (a YOLO dataset folder or data.yaml)")
    try:
        spec = yaml.safe_load(data_yaml.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{data_yaml}: not YAML ({error})") from None
    root = Path(spec.get("path") or data_yaml.parent)
    if not root.is_absolute():
        root = (data_yaml.parent / root).resolve()
    split_dirs: dict[str, Path] = {}
    for split in SPLITS:
        entry = spec.get(split)
        if entry is None:
            continue
        if not isinstance(entry, str):
            raise ValueError(f"{data_yaml}: {split}: expected one image folder, got {entry!r}")
        folder = root / entry
        if not folder.is_dir():
            raise ValueError(f"{data_yaml}: {split}: {folder} is not a folder")
        split_dirs[split] = folder
    classes_json = data_yaml.parent / "classes.json"
    if classes_json.is_file():
        raw = json.loads(classes_json.read_text())["classes"]
        classes = [
            ClassEntry(int(c["index"]), c["name"], c.get("product_id"), c.get("gtin")) for c in raw
        ]
    else:
        names = spec.get("names")
        if names is None:
            raise ValueError(f"{data_yaml}: names: missing (and no classes.json beside it)")
        items = names.items() if isinstance(names, dict) else enumerate(names)
        classes = [ClassEntry(int(i), str(n), None) for i, n in items]
    return _Dataset(root, data_yaml.parent.name, sorted(classes, key=lambda c: c.index), split_dirs)


def _key(entry: ClassEntry) -> str:
    return f"product:{entry.product_id}" if entry.product_id else f"name:{entry.name}"


def merge_classes(
    base: Sequence[ClassEntry], extra: Sequence[ClassEntry]
) -> tuple[list[ClassEntry], dict[int, int], list[str]]:
    """The base classes plus the extra classes they lack; the extra index -> mixed index map;
    the names of the added classes."""
    entries = list(base)
    index_of = {_key(e): e.index for e in entries}
    names = {e.name for e in entries}
    remap: dict[int, int] = {}
    added: list[str] = []
    for item in extra:
        key = _key(item)
        if key not in index_of:
            name = item.name if item.name not in names else f"{item.name} ({item.product_id})"
            entry = ClassEntry(len(entries), name, item.product_id, item.gtin)
            entries.append(entry)
            index_of[key] = entry.index
            names.add(name)
            added.append(name)
        remap[item.index] = index_of[key]
    return entries, remap, added


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _label_file(image: Path) -> Path:
    """The label file ultralytics reads for an image: ``/images/`` -> ``/labels/``, ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _link(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.symlink(source.resolve(), target)
    except OSError:  # no symlinks here (some Windows setups): copy
        shutil.copyfile(source, target)


def _relabel(text: str, remap: dict[int, int] | None, where: Path) -> str:
    if remap is None:
        return text
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls = int(fields[0])
        except ValueError:
            raise ValueError(f"{where}:{number}: class {fields[0]!r} is not an integer") from None
        if cls not in remap:
            raise ValueError(f"{where}:{number}: class {cls} is not in the dataset's class list")
        lines.append(" ".join([str(remap[cls]), *fields[1:]]))
    return "\n".join(lines) + "\n" if lines else ""


def mix_datasets(
    base: Path | str,
    extras: Sequence[Path | str],
    out_dir: Path | str,
    *,
    repeat: int = 1,
) -> MixedDataset:
    """Write a dataset in ``out_dir`` with ``base``'s images and every extra dataset's, in one
    class map (see the module docstring). ``repeat`` > 1 repeats extra *training* images."""
    if repeat < 1:
        raise ValueError(f"repeat: at least 1, got {repeat}")
    if not extras:
        raise ValueError("extras: give at least one extra dataset")
    base_set = _load(Path(base))
    out = Path(out_dir).resolve()
    if out in {base_set.root.resolve(), *(Path(e).resolve() for e in extras)}:
        raise ValueError(f"out_dir: {out} is one of the datasets being mixed")
    for split in SPLITS:
        for kind in ("images", "labels"):
            folder = out / kind / split
            if folder.exists():
                shutil.rmtree(folder)  # a mix from an earlier run: start again
            folder.mkdir(parents=True)
    entries = list(base_set.classes)
    sources: list[tuple[_Dataset, dict[int, int] | None, str]] = [(base_set, None, "")]
    added: list[str] = []
    for number, location in enumerate(extras, start=1):
        extra = _load(Path(location))
        entries, remap, new = merge_classes(entries, extra.classes)
        added.extend(new)
        sources.append((extra, remap, f"extra{number}_"))
    images = {split: 0 for split in SPLITS}
    extra_images = {split: 0 for split in SPLITS}
    for dataset, remap, prefix in sources:
        for split, folder in dataset.split_dirs.items():
            copies = repeat if remap is not None and split == "train" else 1
            for image in _images(folder):
                label = _label_file(image)
                text = label.read_text() if label.is_file() else ""
                text = _relabel(text, remap, label)
                for copy in range(copies):
                    suffix = f"_r{copy}" if copy else ""
                    stem = f"{prefix}{image.stem}{suffix}"
                    _link(image, out / "images" / split / f"{stem}{image.suffix}")
                    (out / "labels" / split / f"{stem}.txt").write_text(text)
                    images[split] += 1
                    if remap is not None:
                        extra_images[split] += 1
    if images["train"] == 0 or images["val"] == 0:
        empty = "train" if images["train"] == 0 else "val"
        raise ValueError(f"mixed dataset: no {empty} images (base {base_set.root})")
    data_yaml = write_dataset_index(
        out,
        entries,
        mixed={
            "base": str(base_set.root),
            "extras": [str(Path(e).resolve()) for e in extras],
            "repeat": repeat,
            "images": images,
            "extra_images": extra_images,
        },
    )
    return MixedDataset(out, data_yaml, entries, images, extra_images, added)
