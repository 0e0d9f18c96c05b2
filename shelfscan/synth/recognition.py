"""Recognise which catalogue product a detected box holds by comparing its crop with packshots.

A detector trained on renders finds packs well but confuses flavour variants that share a
design; a second look at the full-resolution crop, against every packshot, separates them.
Features are cheap and need no training: a small colour thumbnail (layout and colour), a
hue/saturation histogram (colour mix) and the pack's aspect ratio (front versus side).
Pure numpy/Pillow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

THUMB = (12, 18)  # width, height
SHIFTS = (0.0, 0.06)  # crop margins tried on the packshot, for loosely fitting boxes


def _thumb(image: Image.Image) -> np.ndarray:
    arr = np.asarray(image.convert("RGB").resize(THUMB, Image.Resampling.BOX), np.float32)
    arr = arr - arr.mean((0, 1))
    return (arr / (np.linalg.norm(arr) + 1e-6)).ravel()


def _histogram(image: Image.Image) -> np.ndarray:
    hsv = np.asarray(image.convert("RGB").resize((32, 48)).convert("HSV"), np.float32)
    hue, sat, val = hsv[..., 0] / 256, hsv[..., 1] / 256, hsv[..., 2] / 256
    # Grey and dark pixels carry no hue: count them in their own brightness bins.
    chromatic = (sat > 0.2) & (val > 0.15)
    hist = np.zeros(12 * 3 + 4, np.float32)
    hue_bin = np.minimum((hue * 12).astype(int), 11)
    sat_bin = np.minimum(((sat - 0.2) / 0.8 * 3).astype(int), 2)
    np.add.at(hist, hue_bin[chromatic] * 3 + sat_bin[chromatic], 1)
    np.add.at(hist, 36 + np.minimum((val[~chromatic] * 4).astype(int), 3), 1)
    return hist / max(hist.sum(), 1)


def crop_features(image: Image.Image) -> tuple[np.ndarray, np.ndarray, float]:
    """A packshot's features: thumbnails at each ``SHIFTS`` margin (k, d), the colour
    histogram and the aspect ratio. (A gallery entry, ``shelfscan.corrections.gallery``, keeps
    ``query_features`` of several variants of its crop instead.)"""
    thumbs = []
    for margin in SHIFTS:
        mx, my = image.width * margin, image.height * margin
        thumbs.append(_thumb(image.crop((mx, my, image.width - mx, image.height - my))))
    return np.stack(thumbs), _histogram(image), image.width / max(image.height, 1)


def query_features(crop: Image.Image) -> tuple[np.ndarray, np.ndarray, float]:
    """The features of a crop to be named: one thumbnail, the histogram, the aspect ratio."""
    return _thumb(crop), _histogram(crop), crop.width / max(crop.height, 1)


@dataclass
class _Reference:
    product_id: str
    thumbs: np.ndarray  # (k, d)
    histogram: np.ndarray
    aspect: float  # width / height of the front face


class PackshotRecogniser:
    """Ranks catalogue products for an image crop by similarity to their packshots."""

    def __init__(
        self,
        faces: Mapping[str, Image.Image],
        *,
        aspects: Mapping[str, float] | None = None,
        weights: tuple[float, float, float] = (1.0, 1.0, 1.5),
    ) -> None:
        if not faces:
            raise ValueError("PackshotRecogniser needs at least one packshot")
        self.weights = weights
        self.references: list[_Reference] = []
        for product_id, face in faces.items():
            thumbs, histogram, face_aspect = crop_features(face)
            aspect = (aspects or {}).get(product_id, face_aspect)
            self.references.append(_Reference(product_id, thumbs, histogram, float(aspect)))
        self.product_ids = [r.product_id for r in self.references]

    def scores(self, crop: Image.Image) -> np.ndarray:
        """Similarity of the crop to each product (higher is more alike), in ``product_ids``
        order."""
        thumb = _thumb(crop)
        histogram = _histogram(crop)
        aspect = crop.width / max(crop.height, 1)
        w_thumb, w_hist, w_aspect = self.weights
        result = np.empty(len(self.references))
        for i, ref in enumerate(self.references):
            layout = float((ref.thumbs @ thumb).max())
            colour = float(np.minimum(ref.histogram, histogram).sum())
            shape = abs(np.log(aspect / ref.aspect))
            result[i] = w_thumb * layout + w_hist * colour - w_aspect * shape
        return result

    def rank(self, crop: Image.Image, *, temperature: float = 0.05) -> dict[str, float]:
        """Products ranked best first with softmax confidences."""
        scores = self.scores(crop)
        probs = np.exp((scores - scores.max()) / temperature)
        probs /= probs.sum()
        order = np.argsort(-probs)
        return {self.product_ids[i]: float(probs[i]) for i in order}

    def recognise_boxes(self, image: Image.Image, xyxy: np.ndarray) -> list[dict[str, float]]:
        """Ranked products for each (N, 4) pixel box of ``image``."""
        ranked = []
        for x1, y1, x2, y2 in np.asarray(xyxy, float).reshape(-1, 4):
            box = (
                max(0, int(x1)),
                max(0, int(y1)),
                min(image.width, int(np.ceil(x2))),
                min(image.height, int(np.ceil(y2))),
            )
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                ranked.append({})
                continue
            ranked.append(self.rank(image.crop(box)))
        return ranked
