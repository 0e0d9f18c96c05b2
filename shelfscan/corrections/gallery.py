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

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

from shelfscan.detections import Detections
from shelfscan.synth.recognition import PackshotRecogniser, query_features

WEIGHTS = (1.0, 1.0, 1.5, 4.0)  # layout, colour, aspect (the packshot recogniser's), chroma
CHROMA_GRID = (4, 6)  # width, height
# Without packshots to weigh it against, a gallery crop must look this much like a box before
# it decides the label. The scale: layout cosine + histogram intersection - 1.5 |log aspect
# ratio| + 4 (chroma cosine - 1), at most 2. On the Azure sample (benchmarks/corrections.py)
# the three Triscuit flavours score up to 1.52 against each other's crops and 1.56-1.88
# against crops of the same flavour (at 1.5, one flavour's crops renamed 3 sibling boxes).
RELABEL_THRESHOLD = 1.55
RELABEL_MARGIN = 0.03  # over the nearest crop of any other product
# With packshots, the gallery decides when its nearest crop explains the box clearly better
# than every other product's packshot (LEAD over the best of them) and is not a stranger
# (FLOOR). Crop to crop scores run higher than crop to packshot, so LEAD is that bias plus a
# safety margin. Measured (benchmarks/corrections.py): Azure flavour siblings lead by at most
# 0.35 over the packshots (a Rosemary box against Cracked Pepper crops); the renders' boxes of
# a product whose packaging changed, named wrong by the packshots, lead by 0.59-1.02 over them
# against their product's one corrected crop (or are occluded, and far from it).
GALLERY_LEAD = 0.45
GALLERY_FLOOR = 0.9
# The corrected crop is one photo's view; the next photos differ in light, framing and angle.
# Each entry keeps several variants of its crop (the nearest one counts): +-25 % light, the
# box 5 % tighter on each side in turn, and the top or bottom edge 4 % narrower (a pack seen
# a little from below or above).
BRIGHTNESS = (0.75, 1.3)
SHIFT = 0.05
TILT = 0.04


def chroma_layout(image: Image.Image) -> np.ndarray:
    """Where the colours are, without the light: the Cb/Cr planes on a 4x6 grid, centred and
    normalised. Flavour variants of one pack design differ in a coloured band and a picture,
    which a luminance-heavy thumbnail hardly sees; crop to crop (same shelf, same light) this
    separates them (Rosemary vs Roasted Garlic Triscuit: 0.986+ same, at most 0.960 apart)."""
    ycc = np.asarray(image.convert("YCbCr").resize(CHROMA_GRID, Image.Resampling.BOX), np.float32)
    planes = ycc[..., 1:] - ycc[..., 1:].mean((0, 1))
    return (planes / (np.linalg.norm(planes) + 1e-6)).ravel()


def _tilted(image: Image.Image, narrower: float) -> Image.Image:
    """The crop with its top edge ``narrower`` (a share of the width) shorter on each side."""
    w, h = image.size
    quad = (narrower * w, 0, 0, h, w, h, w - narrower * w, 0)
    return image.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR)


def crop_variants(crop: Image.Image) -> list[Image.Image]:
    """The crop and its likely looks in the next photos (see ``BRIGHTNESS``, ``SHIFT``,
    ``TILT``); the first two are the recogniser's own (``SHIFTS``: as is and 6 % inset)."""
    crop = crop.convert("RGB")
    w, h = crop.size
    inset_x, inset_y = round(w * 0.06), round(h * 0.06)
    variants = [crop, crop.crop((inset_x, inset_y, w - inset_x, h - inset_y))]
    if min(w, h) < 10:  # too few pixels to move: the variants would be the crop again
        return variants
    variants += [ImageEnhance.Brightness(crop).enhance(factor) for factor in BRIGHTNESS]
    dx, dy = max(1, round(w * SHIFT)), max(1, round(h * SHIFT))
    variants += [
        crop.crop((dx, 0, w, h)),
        crop.crop((0, 0, w - dx, h)),
        crop.crop((0, dy, w, h)),
        crop.crop((0, 0, w, h - dy)),
    ]
    upside_down = crop.transpose(Image.Transpose.ROTATE_180)
    variants += [
        _tilted(crop, TILT),
        _tilted(upside_down, TILT).transpose(Image.Transpose.ROTATE_180),
    ]
    return variants


@dataclass(frozen=True)
class GalleryExample:
    """One vouched-for crop: per variant (``crop_variants``) a layout thumbnail, a colour
    histogram and a chroma layout, and the crop's aspect ratio."""

    product_key: str
    product_name: str
    thumbs: np.ndarray  # (k, d)
    histograms: np.ndarray  # (k, h)
    aspect: float
    chromas: np.ndarray  # (k, c)
    entry_id: int | None = None

    @classmethod
    def from_crop(
        cls, product_key: str, product_name: str, crop: Image.Image, entry_id: int | None = None
    ) -> GalleryExample:
        if crop.width < 2 or crop.height < 2:
            raise ValueError(f"a gallery crop of {product_key!r} must be at least 2x2 pixels")
        thumbs, histograms, chromas = [], [], []
        for variant in crop_variants(crop):
            thumb, histogram, _ = query_features(variant)
            thumbs.append(thumb)
            histograms.append(histogram)
            chromas.append(chroma_layout(variant))
        return cls(
            product_key,
            product_name,
            np.stack(thumbs),
            np.stack(histograms),
            crop.width / crop.height,
            np.stack(chromas),
            entry_id,
        )

    def document(self) -> dict[str, Any]:
        """JSON for the database: the crop need not be decoded again to use the entry. The
        variants' features as little-endian float16, base64 (about 20 kB an entry; float16
        keeps the cosines to about 1e-3)."""
        return {
            "v": 2,
            "aspect": round(self.aspect, 5),
            **{name: _packed(getattr(self, name)) for name in ("thumbs", "histograms", "chromas")},
        }

    @classmethod
    def from_document(
        cls,
        product_key: str,
        product_name: str,
        document: Mapping[str, Any],
        entry_id: int | None = None,
    ) -> GalleryExample:
        """An entry from ``document()``; a version 1 document (plain lists: one histogram and
        chroma layout for the crop's two thumbnails, no variants) reads as two variants sharing
        them."""
        try:
            aspect = float(document["aspect"])
            if document.get("v", 1) == 1:
                thumbs = np.asarray(document["thumbs"], np.float32)
                histograms = np.tile(
                    np.asarray(document["histogram"], np.float32), (len(thumbs), 1)
                )
                chromas = np.tile(np.asarray(document["chroma"], np.float32), (len(thumbs), 1))
            else:
                thumbs, histograms, chromas = (
                    _unpacked(document[name]) for name in ("thumbs", "histograms", "chromas")
                )
            if not (thumbs.ndim == histograms.ndim == chromas.ndim == 2) or not (
                len(thumbs) == len(histograms) == len(chromas) > 0
            ):
                raise ValueError("thumbs, histograms and chromas must be k rows each")
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise ValueError(f"gallery entry {entry_id}: bad features document: {error}") from None
        return cls(product_key, product_name, thumbs, histograms, aspect, chromas, entry_id)


def _packed(rows: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(rows, "<f2").tobytes()
    return {"shape": list(rows.shape), "f2": base64.b64encode(data).decode("ascii")}


def _unpacked(packed: Mapping[str, Any]) -> np.ndarray:
    shape = tuple(int(n) for n in packed["shape"])
    data = np.frombuffer(base64.b64decode(packed["f2"], validate=True), "<f2")
    return data.reshape(shape).astype(np.float32)


@dataclass
class Gallery:
    """Every gallery crop's variants, stacked for one matrix product per query."""

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
            # every variant row, and the example it belongs to
            self._row_example = np.concatenate(
                [np.full(len(e.thumbs), i, np.intp) for i, e in enumerate(self.examples)]
            )
            self._thumbs = np.concatenate([e.thumbs for e in self.examples])
            self._hists = np.concatenate([e.histograms for e in self.examples])
            self._chromas = np.concatenate([e.chromas for e in self.examples])
            self._aspects = np.array([e.aspect for e in self.examples])

    def add(self, example: GalleryExample) -> None:
        self.examples.append(example)
        self._stack()

    def __len__(self) -> int:
        return len(self.examples)

    def example_scores(self, crop: Image.Image) -> np.ndarray:
        """Similarity of ``crop`` to every example, its nearest variant's (the packshot
        recogniser's scale plus the chroma term)."""
        if not self.examples:
            return np.empty(0)
        thumb, histogram, aspect = query_features(crop)
        w_thumb, w_hist, w_aspect, w_chroma = self.weights
        per_row = (
            w_thumb * (self._thumbs @ thumb)
            + w_hist * np.minimum(self._hists, histogram).sum(axis=1)
            + w_chroma * (self._chromas @ chroma_layout(crop) - 1)
        )
        best = np.full(len(self.examples), -np.inf)
        np.maximum.at(best, self._row_example, per_row)
        return best - w_aspect * np.abs(np.log(max(aspect, 1e-6) / self._aspects))

    def scores(self, crop: Image.Image) -> dict[str, float]:
        """Per product, its nearest gallery crop's similarity to ``crop``."""
        per_example = self.example_scores(crop)
        best = np.full(len(self.product_keys), -np.inf)
        np.maximum.at(best, self._owner, per_example)
        return {key: float(score) for key, score in zip(self.product_keys, best, strict=True)}


def gallery_choice(
    gallery_scores: Mapping[str, float],
    packshot_scores: Mapping[str, float] | None = None,
    *,
    threshold: float = RELABEL_THRESHOLD,
    margin: float = RELABEL_MARGIN,
    lead: float = GALLERY_LEAD,
    floor: float = GALLERY_FLOOR,
) -> str | None:
    """The product the gallery names a box after, or None to leave the box to the packshots
    (or the detector).

    The nearest gallery product must beat every other gallery product by ``margin``, and
    either look as alike as only the same pack does (``threshold``) or, where the packshot
    recogniser's raw scores of the box are known, explain it better than every *other*
    product's packshot by ``lead`` (and score at least ``floor``). The lead is what lets one
    correction teach a changed pack: its boxes fit no packshot well, so a moderately close
    gallery crop wins; a flavour sibling of a corrected product fits its own packshot well,
    so the corrected product's crops, close as they are, do not lead by enough."""
    if not gallery_scores:
        return None
    ordered = sorted(gallery_scores.items(), key=lambda kv: -kv[1])
    best_key, best = ordered[0]
    runner_up = ordered[1][1] if len(ordered) > 1 else -np.inf
    if best - runner_up < margin:
        return None
    if best >= threshold:
        return best_key
    if packshot_scores is None:
        return None
    rival = max((s for key, s in packshot_scores.items() if key != best_key), default=-np.inf)
    return best_key if best >= floor and best - rival >= lead else None


class GalleryRecogniser:
    """The packshot recogniser and the gallery together (the rule: :func:`gallery_choice`).

    When the gallery decides, the ranking is the gallery's; otherwise the packshots'. Crops
    are ranked against crops and packshots against packshots, never in one list: a crop taken
    on the shelf is always more alike another shelf crop than any packshot is, so one list
    would let one gallery crop pull every sibling of its design to itself."""

    def __init__(
        self,
        packshots: PackshotRecogniser | None,
        gallery: Gallery,
        *,
        threshold: float = RELABEL_THRESHOLD,
        margin: float = RELABEL_MARGIN,
        lead: float = GALLERY_LEAD,
        floor: float = GALLERY_FLOOR,
    ) -> None:
        if packshots is None and not len(gallery):
            raise ValueError("GalleryRecogniser needs packshots or gallery entries")
        self.packshots = packshots
        self.gallery = gallery
        self.threshold = threshold
        self.margin = margin
        self.lead = lead
        self.floor = floor

    def packshot_scores(self, crop: Image.Image) -> dict[str, float]:
        if self.packshots is None:
            return {}
        raw = self.packshots.scores(crop)
        return dict(zip(self.packshots.product_ids, map(float, raw), strict=True))

    def gallery_decides(
        self, scores: Mapping[str, float], packshot_scores: Mapping[str, float] | None = None
    ) -> str | None:
        """The gallery's product for these per-product gallery scores, or None."""
        return gallery_choice(
            scores,
            packshot_scores,
            threshold=self.threshold,
            margin=self.margin,
            lead=self.lead,
            floor=self.floor,
        )

    def rank(self, crop: Image.Image, *, temperature: float = 0.05) -> dict[str, float]:
        """Products best first with softmax confidences (as ``PackshotRecogniser.rank``)."""
        gallery_scores = self.gallery.scores(crop) if len(self.gallery) else {}
        packshot_scores = self.packshot_scores(crop) if self.packshots is not None else None
        chosen = self.gallery_decides(gallery_scores, packshot_scores)
        if chosen is not None or not packshot_scores:
            ranked = _softmax(gallery_scores, temperature)
            ranked.update({k: 0.0 for k in packshot_scores or {} if k not in ranked})
            return ranked
        return _softmax(packshot_scores, temperature)

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
    packshots: PackshotRecogniser | None = None,
    threshold: float = RELABEL_THRESHOLD,
    margin: float = RELABEL_MARGIN,
) -> Relabelled:
    """Rename the product boxes whose crop the gallery names (:func:`gallery_choice`).

    ``label_of`` maps a gallery product key to the label to give the box (a product of
    another planogram, or a new one, goes by its name so that the report shows it as an
    unexpected product under that name); default: the key. Without ``packshots`` a box is
    renamed only when its nearest crop is at least ``threshold`` alike (as only the same pack
    is) and beats every other product's nearest crop by ``margin``: a gallery with one flavour
    of a design must not rename its siblings. With them, a closer crop that explains the box
    clearly better than every other packshot also decides (a changed pack)."""
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
        ordered = sorted(scores.values(), reverse=True)
        detection_id = str(detections.ids[i])
        margins[detection_id] = (
            float(min(ordered[0] - ordered[1], 2.0)) if len(ordered) > 1 else 2.0
        )
        packshot_scores = None
        if packshots is not None:
            raw = packshots.scores(crop)
            packshot_scores = dict(zip(packshots.product_ids, map(float, raw), strict=True))
        best_key = gallery_choice(scores, packshot_scores, threshold=threshold, margin=margin)
        if best_key is None:
            continue
        new_label = (label_of or {}).get(best_key, best_key)
        if new_label == labels[i]:
            continue
        renamed[detection_id] = (str(labels[i]), new_label, round(scores[best_key], 4))
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
    "crop_variants",
    "crops_of",
    "gallery_choice",
    "gallery_of",
    "relabel_with_gallery",
]
