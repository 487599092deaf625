"""The Pythons the kiosk installs on (3.11 to 3.13), the smoke run on another one, and the aarch64 wheel check."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from bench import wheels_aarch64

ROOT = Path(__file__).resolve().parent.parent


def fake_python(tmp_path: Path, version: str) -> Path:
    """A `python` that says it is `version` (setup.sh asks for sys.version_info) and can do nothing else."""
    path = tmp_path / f"python{version}"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def test_requires_python_agrees_with_setup_sh() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["requires-python"] == ">=3.11,<3.14"
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "3.11 | 3.12 | 3.13)" in setup


@pytest.mark.parametrize("version", ["3.10", "3.14"])
def test_setup_refuses_a_python_it_does_not_support_before_making_a_venv(tmp_path: Path, version: str) -> None:
    venv = tmp_path / "venv"
    done = subprocess.run(
        [str(ROOT / "scripts" / "setup.sh")],
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHON": str(fake_python(tmp_path, version)), "VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Python 3.11, 3.12 or 3.13 is required" in done.stderr
    assert not venv.exists()


def test_the_smoke_runs_test_files_exist() -> None:
    smoke = (ROOT / "scripts" / "smoke.sh").read_text()
    files = re.findall(r"tests/test_\w+\.py", smoke)
    assert len(files) >= 10
    assert [f for f in files if not (ROOT / f).is_file()] == []


def test_the_wheel_check_asks_for_every_runtime_dependency() -> None:
    asked = [r["requirement"] for r in wheels_aarch64.requirements()]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert asked[: len(project["dependencies"])] == project["dependencies"]
    assert "silero-vad==6.2.3" in asked  # scripts/setup.sh installs it by itself
    assert "-r requirements/whisper-model.txt" in asked


def test_the_wheel_check_names_every_glibc_up_to_debian_12s() -> None:
    # pip widens manylinux2014 to older tags, but not manylinux_2_28 to manylinux_2_27: each must be named.
    assert "manylinux2014_aarch64" in wheels_aarch64.PLATFORMS
    assert [f"manylinux_2_{m}_aarch64" for m in (17, 28, 35, 36)] == [
        p
        for p in wheels_aarch64.PLATFORMS
        if p.endswith(("_2_17_aarch64", "_2_28_aarch64", "_2_35_aarch64", "_2_36_aarch64"))
    ]
    assert wheels_aarch64.needed_glibc("openvino-2026.4.1-22982-cp313-cp313-manylinux_2_35_aarch64.whl") == "2.35"
    assert wheels_aarch64.needed_glibc("x-1-cp311-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl") == "2.17"
    assert (
        wheels_aarch64.needed_glibc("numpy-2-cp313-cp313-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl") == "2.27"
    )
    assert wheels_aarch64.needed_glibc("click-8.5.1-py3-none-any.whl") is None
