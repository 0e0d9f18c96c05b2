"""Learning without retraining: crops a person vouched for, consulted next to the packshots.

A confirmed or corrected facing's crop becomes a *gallery entry* of its product, described by
the features the packshot recogniser already uses (``shelfscan.synth.recognition``: a colour
thumbnail for the layout, a hue/saturation histogram, the aspect ratio). Naming a box is then
a nearest-neighbour question over packshots *and* gallery crops: a crop taken in the store, in
the store's light, of the pack design actually on the shelf is a much closer neighbour than a
stale packshot, so the next scan names that product right without any training.

Pure numpy/Pillow (no database): :mod:`shelfscan.corrections.service` loads and stores the
entries, :mod:`shelfscan.corrections.analyzer` puts the gallery into the scan pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from shelfscan.detections import Detections
from shelfscan.synth.recognition import PackshotRecogniser, crop_features, query_features

WEIGHTS = (1.0, 1.0, 1.5, 4.0)  # layout, colour, aspect (the packshot recogniser's), chroma
CHROMA_GRID = (4, 6)  # width, height
# A gallery crop must look this much like a box before it decides the label. The scale: layout
# cosine + histogram intersection - 1.5 |log aspect ratio| + 4 (chroma cosine - 1), at most 2.
# On the Azure sample (benchmarks/corrections.py) flavour variants of one design score 1.3-1.6
# against each other's crops and the same pack 1.65-1.95.
RELABEL_THRESHOLD = 1.5
RELABEL_MARGIN = 0.03  # over the nearest crop of any other product


def chroma_layout(image: Image.Image) -> np.ndarray:
    """Where the colours are, without the light: the Cb/Cr planes on a 4x6 grid, centred and
    normalised. Flavour variants of one pack design differ in a coloured band and a picture,
    which a luminance-heavy thumbnail hardly sees; crop to crop (same shelf, same light) this
    separates them (Rosemary vs Roasted Garlic Triscuit: 0.986+ same, at most 0.960 apart)."""
    ycc = np.asarray(image.convert("YCbCr").resize(CHROMA_GRID, Image.Resampling.BOX), np.float32)
    planes = ycc[..., 1:] - ycc[..., 1:].mean((0, 1))
    return (planes / (np.linalg.norm(planes) + 1e-6)).ravel()


@dataclass(frozen=True)
class GalleryExample:
    product_key: str
    product_name: str
    thumbs: np.ndarray  # (k, d)
    histogram: np.ndarray  # (h,)
    aspect: float
    chroma: np.ndarray  # (c,)
    entry_id: int | None = None

    @classmethod
    def from_crop(
        cls, product_key: str, product_name: str, crop: Image.Image, entry_id: int | None = None
    ) -> GalleryExample:
        if crop.width < 2 or crop.height < 2:
            raise ValueError(f"a gallery crop of {product_key!r} must be at least 2x2 pixels")
        thumbs, histogram, aspect = crop_features(crop)
        return cls(
            product_key,
            product_name,
            thumbs,
            histogram,
            float(aspect),
            chroma_layout(crop),
            entry_id,
        )

    def document(self) -> dict[str, Any]:
        """JSON for the database: the crop need not be decoded again to use the entry."""
        return {
            "v": 1,
            "thumbs": np.round(self.thumbs, 5).tolist(),
            "histogram": np.round(self.histogram, 6).tolist(),
            "aspect": round(self.aspect, 5),
            "chroma": np.round(self.chroma, 5).tolist(),
        }

    @classmethod
    def from_document(
        cls,
        product_key: str,
        product_name: str,
        document: Mapping[str, Any],
        entry_id: int | None = None,
    ) -> GalleryExample:
        try:
            thumbs = np.asarray(document["thumbs"], np.float32)
            histogram = np.asarray(document["histogram"], np.float32)
            aspect = float(document["aspect"])
            chroma = np.asarray(document["chroma"], np.float32)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"gallery entry {entry_id}: bad features document: {error}") from None
        return cls(product_key, product_name, thumbs, histogram, aspect, chroma, entry_id)


@dataclass
class Gallery:
    """Every gallery crop, stacked for one matrix product per query."""

    examples: list[GalleryExample] = field(default_factory=list)
    weights: tuple[float, float, float, float] = WEIGHTS

    def __post_init__(self) -> None:
        self._stack()

    def _stack(self) -> None:
        self.product_keys = sorted({e.product_key for e in self.examples})
        self.names = {e.product_key: e.product_name for e in self.examples}
        index = {key: i for i, key in enumerate(self.product_keys)}
        self._owner = np.array([index[e.product_key] for e in self.examples], np.intp)
        if self.examples:
            self._k = self.examples[0].thumbs.shape[0]
            self._thumbs = np.concatenate([e.thumbs for e in self.examples])  # (n*k, d)
            self._hists = np.stack([e.histogram for e in self.examples])
            self._aspects = np.array([e.aspect for e in self.examples])
            self._chromas = np.stack([e.chroma for e in self.examples])

    def add(self, example: GalleryExample) -> None:
        self.examples.append(example)
        self._stack()

    def __len__(self) -> int:
        return len(self.examples)

    def example_scores(self, crop: Image.Image) -> np.ndarray:
        """Similarity of ``crop`` to every example (the packshot recogniser's scale)."""
        if not self.examples:
            return np.empty(0)
        thumb, histogram, aspect = query_features(crop)
        layout = (self._thumbs @ thumb).reshape(len(self.examples), self._k).max(axis=1)
        colour = np.minimum(self._hists, histogram).sum(axis=1)
        shape = np.abs(np.log(max(aspect, 1e-6) / self._aspects))
        chroma = self._chromas @ chroma_layout(crop)
        w_thumb, w_hist, w_aspect, w_chroma = self.weights
        return w_thumb * layout + w_hist * colour - w_aspect * shape + w_chroma * (chroma - 1)

    def scores(self, crop: Image.Image) -> dict[str, float]:
        """Per product, its nearest gallery crop's similarity to ``crop``."""
        per_example = self.example_scores(crop)
        best = np.full(len(self.product_keys), -np.inf)
        np.maximum.at(best, self._owner, per_example)
        return {key: float(score) for key, score in zip(self.product_keys, best, strict=True)}


class GalleryRecogniser:
    """The packshot recogniser and the gallery together.

    The gallery decides when its nearest crop is a close neighbour (``threshold``) and beats
    the nearest crop of every other product by ``margin``; otherwise the packshots do. Crops
    are compared with crops and packshots with packshots, never across: a crop taken on the
    shelf is always more alike another shelf crop than any packshot is, so mixing the two
    scales would let one gallery crop pull every sibling of its design to itself."""

    def __init__(
        self,
        packshots: PackshotRecogniser | None,
        gallery: Gallery,
        *,
        threshold: float = RELABEL_THRESHOLD,
        margin: float = RELABEL_MARGIN,
    ) -> None:
        if packshots is None and not len(gallery):
            raise ValueError("GalleryRecogniser needs packshots or gallery entries")
        self.packshots = packshots
        self.gallery = gallery
        self.threshold = threshold
        self.margin = margin

    def gallery_decides(self, scores: Mapping[str, float]) -> str | None:
        """The gallery's product for these per-product gallery scores, or None."""
        if not scores:
            return None
        ordered = sorted(scores.values(), reverse=True)
        best_key = max(scores, key=lambda k: scores[k])
        runner_up = ordered[1] if len(ordered) > 1 else -np.inf
        if ordered[0] >= self.threshold and ordered[0] - runner_up >= self.margin:
            return best_key
        return None

    def rank(self, crop: Image.Image, *, temperature: float = 0.05) -> dict[str, float]:
        """Products best first with softmax confidences (as ``PackshotRecogniser.rank``)."""
        gallery_scores = self.gallery.scores(crop) if len(self.gallery) else {}
        chosen = self.gallery_decides(gallery_scores)
        if chosen is not None or self.packshots is None:
            ranked = _softmax(gallery_scores, temperature)
            if self.packshots is not None:
                rest = self.packshots.rank(crop, temperature=temperature)
                ranked.update({k: 0.0 for k in rest if k not in ranked})
            return ranked
        return self.packshots.rank(crop, temperature=temperature)

    def recognise_boxes(self, image: Image.Image, xyxy: np.ndarray) -> list[dict[str, float]]:
        return [self.rank(crop) if crop is not None else {} for crop in crops_of(image, xyxy)]


def _softmax(scores: Mapping[str, float], temperature: float) -> dict[str, float]:
    if not scores:
        return {}
    keys = list(scores)
    values = np.array([scores[k] for k in keys])
    probs = np.exp((values - values.max()) / temperature)
    probs /= probs.sum()
    return {keys[i]: float(probs[i]) for i in np.argsort(-probs)}


def crops_of(image: Image.Image, xyxy: np.ndarray) -> list[Image.Image | None]:
    """The crop of each (N, 4) pixel box, clipped to the image; None for a box under 2 px."""
    crops: list[Image.Image | None] = []
    for x1, y1, x2, y2 in np.asarray(xyxy, float).reshape(-1, 4):
        box = (
            max(0, int(x1)),
            max(0, int(y1)),
            min(image.width, int(np.ceil(x2))),
            min(image.height, int(np.ceil(y2))),
        )
        ok = box[2] - box[0] >= 2 and box[3] - box[1] >= 2
        crops.append(image.crop(box) if ok else None)
    return crops


@dataclass(frozen=True)
class Relabelled:
    detections: Detections
    # detection id -> (old label, new label, similarity) for the boxes the gallery renamed
    renamed: dict[str, tuple[str, str, float]]
    # detection id -> how sure the gallery is (best minus runner-up similarity), every box it
    # judged; the review queue puts the least sure first
    margins: dict[str, float]


def relabel_with_gallery(
    image: Image.Image,
    detections: Detections,
    gallery: Gallery,
    *,
    label_of: Mapping[str, str] | None = None,
    threshold: float = RELABEL_THRESHOLD,
    margin: float = RELABEL_MARGIN,
) -> Relabelled:
    """Rename the product boxes whose crop is a close neighbour of some product's gallery crop.

    ``label_of`` maps a gallery product key to the label to give the box (a product of
    another planogram, or a new one, goes by its name so that the report shows it as an
    unexpected product under that name); default: the key. A box is renamed only when its
    nearest crop is at least ``threshold`` alike and beats every other product's nearest crop
    by ``margin``: a gallery with one flavour of a design must not rename its siblings."""
    if not len(gallery) or not len(detections):
        return Relabelled(detections, {}, {})
    labels = detections.labels.copy()
    alternatives = [dict(a) for a in detections.alternatives] if detections.alternatives else []
    renamed: dict[str, tuple[str, str, float]] = {}
    margins: dict[str, float] = {}
    for i, crop in enumerate(crops_of(image, detections.xyxy)):
        if crop is None or detections.is_gap[i]:
            continue
        scores = gallery.scores(crop)
        ordered = sorted(scores.items(), key=lambda kv: -kv[1])
        best_key, best = ordered[0]
        runner_up = ordered[1][1] if len(ordered) > 1 else -np.inf
        detection_id = str(detections.ids[i])
        margins[detection_id] = float(min(best - runner_up, 2.0)) if len(ordered) > 1 else 2.0
        new_label = (label_of or {}).get(best_key, best_key)
        if best < threshold or best - runner_up < margin or new_label == labels[i]:
            continue
        renamed[detection_id] = (str(labels[i]), new_label, round(float(best), 4))
        labels[i] = new_label
        if alternatives:
            alternatives[i] = {new_label: 1.0, **{k: v for k, v in alternatives[i].items()}}
    if not renamed:
        return Relabelled(detections, {}, margins)
    relabelled = Detections(
        xyxy=detections.xyxy,
        labels=labels,
        confidence=detections.confidence,
        is_gap=detections.is_gap,
        ids=detections.ids,
        image_width=detections.image_width,
        image_height=detections.image_height,
        alternatives=alternatives,
        model=detections.model,
        timings_ms=dict(detections.timings_ms),
    )
    return Relabelled(relabelled, renamed, margins)


def gallery_of(examples: Iterable[GalleryExample]) -> Gallery:
    return Gallery(list(examples))


__all__: Sequence[str] = [
    "Gallery",
    "GalleryExample",
    "GalleryRecogniser",
    "Relabelled",
    "crops_of",
    "gallery_of",
    "relabel_with_gallery",
]
