"""A photo's bytes, decoded only as far as each use needs.

A phone photo is 8–12 MP, but the detector looks at it at 640 px, the quality check at
≈ 1024 px and the annotated picture is drawn for a phone screen. Decoding every pixel costs
more than detecting the products (≈ 150 ms for 8 MP on one core), so :class:`Photo` asks
libjpeg for a reduced copy instead: its DCT scaling (1/2, 1/4, 1/8) skips most of the work,
and the coarsest scale that still gives the wanted size is taken. The full-resolution image
is decoded only when a caller needs its pixels (evidence crops, the recognition gallery).

Every copy is upright (EXIF orientation applied) and RGB; :attr:`Photo.size` is the full
upright size, the pixels every box shelfscan reports are in. A reduced copy made by DCT
scaling by ``factor`` covers the full image exactly: its pixel ``i`` is full pixels
``factor·i … factor·i + factor − 1``, so coordinates map back by multiplying (see
:meth:`ReducedImage.to_full`)."""

from __future__ import annotations

import functools
import io
import threading

import numpy as np
from PIL import Image, UnidentifiedImageError

from shelfscan.compliance.scene import SceneMask
from shelfscan.images import ImageDecodeError, exif_orientation, load_image, upright_rgb

DECODE_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError)
# Orientations 5–8 turn the photo by a quarter: width and height swap.
QUARTER_TURNS = frozenset({5, 6, 7, 8})
# What upload validation decodes for its checks (``imaging.validation._decode_preview``):
# at least 60 % of the 1024 px preview, then scaled down to 1024 px.
QUALITY_PREVIEW_LONG_SIDE = 1024
QUALITY_DECODE_SHARE = 0.6
QUALITY_DECODE_LONG_SIDE = round(QUALITY_DECODE_SHARE * QUALITY_PREVIEW_LONG_SIDE)
_NOT_LOOKED_FOR = object()  # Photo.scene() before its first call
JPEG_END_OF_IMAGE = b"\xff\xd9"
JPEG_END_PADDING = b"\x00\xff\r\n \t"  # what writers leave after the end (imaging.completeness)


@functools.cache
def _opencv_reduced_flags() -> dict[int, int]:
    """DCT scale → OpenCV's flag for it (imported on first use: it is a large module)."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - comes with ultralytics
        return {}
    return {
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }


def _swap_red_blue(pixels: np.ndarray) -> np.ndarray:
    """BGR ↔ RGB into a new contiguous array: OpenCV's vectorised swap when OpenCV is there
    (≈ 0.1 ms for a 2 MP copy, where numpy's reversed-stride copy takes ≈ 11 ms)."""
    if _opencv_reduced_flags():
        import cv2

        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(pixels[:, :, ::-1])  # pragma: no cover - OpenCV comes along


class ReducedImage:
    """An upright copy ``factor`` times smaller than the full photo on each side.

    Decoded either by OpenCV into a BGR array (what the detector takes; no Pillow image is made
    unless one is asked for) or by Pillow into an image; the other form is made on first use."""

    def __init__(
        self,
        factor: int,
        full_size: tuple[int, int],
        *,
        image: Image.Image | None = None,
        bgr: np.ndarray | None = None,
    ) -> None:
        if image is None and bgr is None:
            raise ValueError("a reduced copy needs its pixels: an image or a BGR array")
        self.factor = factor
        self.full_size = full_size
        self._image = image
        self._bgr = bgr
        self._lock = threading.Lock()

    @property
    def size(self) -> tuple[int, int]:
        if self._image is not None:
            return self._image.size
        assert self._bgr is not None
        return (self._bgr.shape[1], self._bgr.shape[0])

    @property
    def image(self) -> Image.Image:
        """Upright RGB Pillow image."""
        with self._lock:
            if self._image is None:
                assert self._bgr is not None
                self._image = Image.fromarray(_swap_red_blue(self._bgr))
            return self._image

    @property
    def bgr(self) -> np.ndarray:
        """Upright ``(height, width, 3)`` uint8 array in OpenCV's (and ultralytics') BGR order."""
        with self._lock:
            if self._bgr is None:
                assert self._image is not None
                self._bgr = _swap_red_blue(np.asarray(self._image))
            return self._bgr

    def to_full(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes ``(N, 4)`` in pixels of this copy → pixels of the full photo (clipped)."""
        width, height = self.full_size
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4) * self.factor
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return boxes


class Photo:
    """Photo bytes with lazily decoded, cached copies; safe to share between threads."""

    def __init__(self, data: bytes) -> None:
        if not data:
            raise ImageDecodeError("image: empty body")
        self.data = data
        try:
            with Image.open(io.BytesIO(data)) as opened:
                self.format = opened.format or ""
                self._mode = opened.mode
                raw_width, raw_height = opened.size
                orientation = exif_orientation(opened)
        except DECODE_ERRORS as error:
            raise ImageDecodeError(f"image: cannot decode ({error})") from error
        self._orientation = orientation
        turned = orientation in QUARTER_TURNS
        self.size: tuple[int, int] = (raw_height, raw_width) if turned else (raw_width, raw_height)
        self._lock = threading.Lock()
        self._full: Image.Image | None = None
        self._reduced: dict[int, ReducedImage] = {}
        self._scene: SceneMask | object | None = _NOT_LOOKED_FOR

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def full(self) -> Image.Image:
        """Every pixel, upright RGB (decoded once)."""
        with self._lock:
            if self._full is None:
                self._full = load_image(self.data)
            return self._full

    def reduced(self, long_side: int) -> ReducedImage:
        """The smallest DCT-scaled copy whose long side is at least ``long_side`` (or the full
        photo when it is not larger, or not a JPEG)."""
        factor = self._factor_for(long_side)
        with self._lock:
            cached = self._reduced.get(factor)
            if cached is None and factor == 1 and self._full is not None:
                cached = ReducedImage(1, self.size, image=self._full)
        if cached is not None:
            return cached
        if factor == 1:
            reduced = ReducedImage(1, self.size, image=self.full())
        else:
            bgr = self._decode_scaled_bgr(factor)
            if bgr is not None:
                reduced = ReducedImage(factor, self.size, bgr=bgr)
            else:
                reduced = ReducedImage(factor, self.size, image=self._decode_scaled(factor))
        with self._lock:
            return self._reduced.setdefault(factor, reduced)

    def smallest_decoded(self) -> ReducedImage:
        """The smallest copy decoded so far (the detector's, usually), or the quality
        preview's copy when none is."""
        with self._lock:
            factors = sorted(self._reduced, reverse=True)
            if factors:
                return self._reduced[factors[0]]
            if self._full is not None:
                return ReducedImage(1, self.size, image=self._full)
        return self.reduced(QUALITY_DECODE_LONG_SIDE)

    def scene(self) -> SceneMask | None:
        """Which part of the photo shows the scene when fill covers some of it
        (``shelfscan.imaging.fill``; None: all of it). Looked for once, on the smallest copy
        decoded by then: every match of the photo (a scan of several photos matches each one
        again while placing it) sees the same scene."""
        with self._lock:
            if self._scene is not _NOT_LOOKED_FOR:
                return self._scene  # type: ignore[return-value]
        from shelfscan.imaging.fill import find_fill, find_fill_in_image  # scipy: analysis only

        copy = self.smallest_decoded()
        if copy.factor > 1:
            found = find_fill(copy.bgr, self.size)
        else:
            found = find_fill_in_image(copy.image, self.size)
        with self._lock:
            if self._scene is _NOT_LOOKED_FOR:
                self._scene = found
            return self._scene  # type: ignore[return-value]

    def quality_preview(self) -> Image.Image:
        """The preview upload validation measures quality on (same decode, same resize)."""
        preview = self.reduced(QUALITY_DECODE_LONG_SIDE).image
        if max(preview.size) > QUALITY_PREVIEW_LONG_SIDE:
            preview = preview.copy()
            preview.thumbnail(
                (QUALITY_PREVIEW_LONG_SIDE, QUALITY_PREVIEW_LONG_SIDE),
                Image.Resampling.BILINEAR,
                reducing_gap=2.0,
            )
        return preview

    def _factor_for(self, long_side: int) -> int:
        """libjpeg's choice for a draft of at least ``long_side`` on the long side."""
        if self.format != "JPEG" or long_side <= 0:
            return 1
        for factor in (8, 4, 2):
            if -(-max(self.size) // factor) >= long_side:
                return factor
        return 1

    def _decode_scaled_bgr(self, factor: int) -> np.ndarray | None:
        """The DCT-scaled copy straight into a BGR array by OpenCV (the same libjpeg-turbo
        scaling as Pillow's draft, pixel for pixel, but without Pillow's copies into and out of
        its image), for the plain case only: a colour JPEG that needs no turning and ends where
        a JPEG ends (OpenCV fills a cut-off file with grey where Pillow refuses it). None
        otherwise, or without OpenCV: Pillow decodes it."""
        if self._mode != "RGB" or self._orientation != 1:
            return None
        if not self.data[-64:].rstrip(JPEG_END_PADDING).endswith(JPEG_END_OF_IMAGE):
            return None
        flag = _opencv_reduced_flags().get(factor)
        if flag is None:
            return None
        import cv2

        flags = flag | cv2.IMREAD_IGNORE_ORIENTATION
        bgr = cv2.imdecode(np.frombuffer(self.data, dtype=np.uint8), flags)
        expected = (-(-self.height // factor), -(-self.width // factor), 3)
        if bgr is None or bgr.shape != expected:
            return None  # OpenCV could not read it: Pillow decodes it, or says why not
        return bgr

    def _decode_scaled(self, factor: int) -> Image.Image:
        try:
            with Image.open(io.BytesIO(self.data)) as opened:
                width, height = opened.size
                # Pillow takes the coarsest scale that still gives at least this size.
                opened.draft("RGB", (max(1, width // factor), max(1, height // factor)))
                image = upright_rgb(opened)
        except DECODE_ERRORS as error:
            raise ImageDecodeError(f"image: cannot decode ({error})") from error
        expected = (-(-self.width // factor), -(-self.height // factor))
        if image.size != expected:  # pragma: no cover - libjpeg always scales like this
            raise ImageDecodeError(
                f"image: reduced decode gave {image.size[0]}×{image.size[1]}, "
                f"expected {expected[0]}×{expected[1]}"
            )
        return image
