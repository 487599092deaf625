"""The units in ``systemd/`` as systemd itself reads them: ``systemd-analyze verify`` and ``security``.

``verify`` checks that every ExecStart= binary exists, so the units are verified inside a throwaway root
(``--root``) holding empty executables at the installed paths and a copy of this machine's own system units
(the targets the units order themselves against).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.bench_systemd import EXPOSURE_TARGET, UNITS, UNITS_DIR, security_report, systemd_analyze

needs_analyze = pytest.mark.skipif(
    systemd_analyze() is None, reason="systemd-analyze is not installed (Debian: systemd)"
)
HOST_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with the units installed where install.sh puts them and their ExecStart= binaries."""
    if HOST_UNITS is None:
        pytest.skip("no system unit directory on this machine")
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    installed = root / "etc/systemd/system"
    installed.mkdir(parents=True)
    for unit in UNITS:
        text = (UNITS_DIR / unit).read_text()
        (installed / unit).write_text(text)
        for line in re.findall(r"^ExecStart=(\S+)", text, flags=re.MULTILINE):
            binary = root / line.lstrip("/")
            binary.parent.mkdir(parents=True, exist_ok=True)
            binary.write_text("#!/bin/sh\n")
            binary.chmod(0o755)
    return root


def _verify(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", f"/etc/systemd/system/{unit}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_unit_verifies_without_a_single_warning(root: Path, unit: str) -> None:
    # An unknown or misspelt setting is only a warning (exit 0), so the output must be empty too.
    done = _verify(root, unit)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


@needs_analyze
def test_verify_catches_a_misspelt_setting_and_a_missing_binary(root: Path) -> None:
    """The check above can fail: systemd-analyze does read these files the way the test assumes."""
    broken = root / "etc/systemd/system/broken.service"
    broken.write_text(
        (UNITS_DIR / "kiosk.service")
        .read_text()
        .replace("WatchdogSec=", "WatchdogSecs=")
        .replace("/usr/bin/cage", "/nope")
    )
    done = _verify(root, "broken.service")
    output = done.stdout + done.stderr
    assert "Unknown key 'WatchdogSecs'" in output
    assert "/nope is not executable" in output and done.returncode != 0


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_security_exposure(unit: str) -> None:
    report = security_report(UNITS_DIR / unit)
    print(f"{unit}: overall exposure {report.exposure} {report.rating}")
    target = EXPOSURE_TARGET.get(unit, 10.0)
    assert report.exposure <= target, report.table


def test_kiosk_unit_is_a_watchdogged_notify_service_with_no_capabilities() -> None:
    """The settings the issue names, read back from the file systemd scores (not from a summary of it)."""
    text = (UNITS_DIR / "kiosk.service").read_text()
    for setting in (
        "Type=notify",
        "NotifyAccess=all",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "StartLimitBurst=5",
        "User=kiosk",
        "StateDirectory=kiosk",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "DevicePolicy=closed",
        "NoNewPrivileges=yes",
    ):
        assert setting in text, setting
    assert "ReadWritePaths" not in text  # StateDirectory= is the one writable data directory


@pytest.mark.parametrize("role", ["", "--fleet"])
def test_install_script_dry_run_prints_every_step_and_changes_nothing(role: str) -> None:
    done = subprocess.run(
        [str(UNITS_DIR / "install.sh"), "--dry-run", *filter(None, [role])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    unit = "fleet" if role else "kiosk"
    steps = done.stdout
    assert "/opt/kiosk/src/scripts/setup.sh" in steps  # the package lists stay in setup.sh
    assert f"systemd/{unit}.service /etc/systemd/system/" in steps
    assert "journald.conf.d/kiosk.conf /etc/systemd/journald.conf.d/" in steps
    assert f"systemctl enable {unit}.service" in steps
    assert ("cage seatd" in steps) == (unit == "kiosk")
    assert f"useradd --system --user-group --home-dir /var/lib/{unit}" in steps


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_install_script_is_shellcheck_clean() -> None:
    done = subprocess.run(["shellcheck", str(UNITS_DIR / "install.sh")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
