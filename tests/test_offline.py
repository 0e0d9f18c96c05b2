"""ultralytics must neither reach the network nor change how shelfscan reads images.

Each check runs in a fresh interpreter: importing ultralytics patches process-wide state."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_corrupt_upload_is_still_a_clean_rejection_after_ultralytics_loads() -> None:
    result = _run(
        """
        import io
        from PIL import Image
        from shelfscan.offline import import_ultralytics
        import_ultralytics()
        from shelfscan.imaging.validation import UploadRejected, validate_photo
        good = io.BytesIO(); Image.new("RGB", (400, 300), "red").save(good, "JPEG")
        corrupt = good.getvalue()[:200] + b"\\x00" * 3000 + good.getvalue()[-2:]
        try:
            validate_photo(corrupt, "image/jpeg")
        except UploadRejected as rejected:
            print("REJECTED", rejected.code)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[:1] == ["REJECTED"], result.stdout
    assert result.stdout.split()[1] in {"corrupt_image", "truncated_image"}


def test_unpatched_ultralytics_would_turn_it_into_a_crash() -> None:
    """Guards the test above: the hazard it protects against is real in this ultralytics."""
    result = _run(
        """
        import io, os
        os.environ["YOLO_OFFLINE"] = "1"; os.environ["YOLO_AUTOINSTALL"] = "false"
        import ultralytics
        from PIL import Image
        try:
            Image.open(io.BytesIO(b"not an image at all" * 10))
        except Image.UnidentifiedImageError:
            print("UNIDENTIFIED")
        except Exception as error:
            print("OTHER", type(error).__name__)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = result.stdout.strip().splitlines()[-1].split()[0]  # after ultralytics' warnings
    assert outcome in {"OTHER", "UNIDENTIFIED"}
    if outcome == "UNIDENTIFIED":  # a future ultralytics without the patch: nothing to undo
        return
    fixed = _run(
        """
        import io
        from shelfscan.offline import import_ultralytics
        import_ultralytics()
        from PIL import Image
        try:
            Image.open(io.BytesIO(b"not an image at all" * 10))
        except Image.UnidentifiedImageError:
            print("UNIDENTIFIED")
        """
    )
    assert fixed.stdout.strip().splitlines()[-1] == "UNIDENTIFIED", fixed.stderr[-2000:]
