"""Photo uploads: format sniffing, validation limits, metadata stripping and quality checks."""

from shelfscan.imaging.formats import ImageFormat, sniff_format
from shelfscan.imaging.quality import BayScale, PhotoQuality, QualityThresholds, assess_quality
from shelfscan.imaging.validation import (
    CheckedPhoto,
    UploadLimits,
    UploadRejected,
    ValidatedPhoto,
    precheck_photo,
    validate_photo,
)

__all__ = [
    "BayScale",
    "CheckedPhoto",
    "ImageFormat",
    "PhotoQuality",
    "QualityThresholds",
    "UploadLimits",
    "UploadRejected",
    "ValidatedPhoto",
    "assess_quality",
    "precheck_photo",
    "sniff_format",
    "validate_photo",
]
