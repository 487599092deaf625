"""Every provisioned kiosk gets its own staff PIN, and ``kiosk doctor`` fails on a kiosk that kept the demo one.

``kiosk-provision init`` takes ``--staff-pin`` or makes one up and prints it once; only a salted scrypt hash
reaches the kiosk.toml, which the kiosk's screen then checks PINs against. ``kiosk-provision staff-pin`` sets
the PIN of a kiosk provisioned before there were PINs (or changes it), keeping the rest of its kiosk.toml.
No broker is needed: the fleet CA signs at once (``--ca-dir``).
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware_app.app import Kiosk
from firmware_app.cli import main as kiosk_cli
from firmware_app.config import KioskSettings, load_settings
from firmware_app.doctor import Check, _staff_pin, run_checks
from firmware_app.screen.controller import KioskController
from kiosk_link import pki
from kiosk_link.pin_hash import DEMO_PIN, DEMO_PIN_HASH, ScryptHash, parse, verify_pin
from kiosk_ui.cli import demo_settings
from provisioning.cli import main as kiosk_provision
from tests.conftest import fixed_today
from tests.fakes import FakeClock

PIN = "40731985"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fleet CA folder and the release public key, as `fleet ca init` and `fleet keys generate` make them."""
    folder = tmp_path_factory.mktemp("fleet")
    pki.FleetCa.init(folder / "ca", ("127.0.0.1",))
    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (folder / "release-signing.pub").write_bytes(public)
    return folder / "ca", folder / "release-signing.pub"


def provision(root: Path, fleet: tuple[Path, Path], *pin_args: str, device_id: str = "kiosk-a") -> Result:
    ca, update_key = fleet
    args = ["--root", str(root), "--sealing", "keyfile", "init", "--device-id", device_id, "--broker-host"]
    args += ["127.0.0.1", "--update-key", str(update_key), "--ca-dir", str(ca), *pin_args]
    return CliRunner().invoke(kiosk_provision, args)


def settings_of(root: Path, monkeypatch: pytest.MonkeyPatch) -> KioskSettings:
    """The settings a kiosk provisioned under ``root`` starts with (its kiosk.toml, read as on the device)."""
    monkeypatch.setenv("KIOSK_CONFIG", str(root / "etc" / "kiosk" / "kiosk.toml"))
    return load_settings(data_dir=root / "data")


def stored_hash(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return settings_of(root, monkeypatch).ui.admin_pin_hash


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_a_given_pin_is_what_the_kiosk_then_accepts_and_the_demo_pin_is_refused(
    tmp_path: Path, fleet: tuple[Path, Path], kiosk: Kiosk, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = provision(tmp_path, fleet, "--staff-pin", PIN)
    assert result.exit_code == 0, result.output
    assert "staff PIN: the one given with --staff-pin" in result.output and PIN not in result.output
    monkeypatch.setattr(kiosk.settings, "ui", settings_of(tmp_path, monkeypatch).ui)  # the shared kiosk, as provisioned
    controller = KioskController(lambda: kiosk, clock=FakeClock(), today=fixed_today)
    try:
        controller.open_admin()
        controller.type_text(DEMO_PIN)
        controller.submit()
        assert controller.state.screen == "admin_pin" and controller.state.notice == "wrong_pin"
        controller.type_text(PIN)
        controller.submit()
        assert controller.state.screen == "admin"
        controller.close_admin()
    finally:
        controller.detach()


def test_a_generated_pin_is_printed_once_works_and_is_kept_nowhere(
    tmp_path: Path, fleet: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = provision(tmp_path, fleet)
    assert result.exit_code == 0, result.output
    (pin,) = re.findall(r"staff PIN: (\d+)", result.output)
    assert len(pin) == 8 and result.output.count(pin) == 1
    assert verify_pin(pin, stored_hash(tmp_path, monkeypatch)) and not verify_pin(
        DEMO_PIN, stored_hash(tmp_path, monkeypatch)
    )
    holding = [path for path in tmp_path.rglob("*") if path.is_file() and pin.encode() in path.read_bytes()]
    assert holding == []
    again = provision(tmp_path / "other", fleet, device_id="kiosk-b")
    assert re.findall(r"staff PIN: (\d+)", again.output) != [pin]  # each device its own


def test_the_same_pin_on_two_devices_is_stored_salted_and_slow(
    tmp_path: Path, fleet: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for device_id in ("kiosk-a", "kiosk-b"):
        assert provision(tmp_path / device_id, fleet, "--staff-pin", PIN, device_id=device_id).exit_code == 0
    first, second = stored_hash(tmp_path / "kiosk-a", monkeypatch), stored_hash(tmp_path / "kiosk-b", monkeypatch)
    assert first != second and parse(first).salt != parse(second).salt
    for stored in (first, second):
        assert stored.startswith("scrypt$32768$8$1$") and len(parse(stored).salt) == 16
        assert verify_pin(PIN, stored) and hashlib.sha256(PIN.encode()).hexdigest() not in stored
    config = tmp_path / "kiosk-a" / "etc" / "kiosk" / "kiosk.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640


@pytest.mark.parametrize("pin", [DEMO_PIN, "123456", "4444444", "12ab5678"])
def test_a_weak_pin_is_refused_before_anything_is_written(tmp_path: Path, fleet: tuple[Path, Path], pin: str) -> None:
    result = provision(tmp_path, fleet, "--staff-pin", pin)
    assert result.exit_code == 2 and "--staff-pin" in result.output, result.output
    assert not (tmp_path / "etc").exists()


def test_staff_pin_replaces_an_old_sha256_pin_and_keeps_the_rest_of_kiosk_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc" / "kiosk" / "kiosk.toml"
    config.parent.mkdir(parents=True)
    legacy = hashlib.sha256(b"13572468").hexdigest()
    config.write_text(
        f'device_id = "kiosk-old"\n\n[ui]\nfullscreen = false\nadmin_pin_sha256 = "{legacy}"\n'
        "admin_lockout_s = 30\n\n[dialogue]\nidle_timeout_s = 60\n"
    )
    before = settings_of(tmp_path, monkeypatch)
    assert _staff_pin(before.ui).status == "FAIL" and "unsalted sha256" in _staff_pin(before.ui).detail
    result = CliRunner().invoke(kiosk_provision, ["--root", str(tmp_path), "staff-pin", "--staff-pin", PIN])
    assert result.exit_code == 0, result.output
    after = settings_of(tmp_path, monkeypatch)
    assert verify_pin(PIN, after.ui.admin_pin_hash) and "admin_pin_sha256" not in config.read_text()
    assert (after.device_id, after.ui.fullscreen, after.ui.admin_lockout_s) == ("kiosk-old", False, 30)
    assert after.dialogue.idle_timeout_s == 60
    assert _staff_pin(after.ui) == Check("staff PIN", "OK", "this device's own, scrypt with its own salt")


def test_staff_pin_needs_a_provisioned_kiosk(tmp_path: Path) -> None:
    result = CliRunner().invoke(kiosk_provision, ["--root", str(tmp_path), "staff-pin"])
    assert result.exit_code == 1 and "kiosk-provision init" in result.output
    assert "staff PIN:" not in result.output  # a generated PIN is shown only once it is stored


def test_doctor_fails_on_the_demo_pin_and_passes_a_provisioned_one(
    tmp_path: Path, fleet: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = by_name(run_checks(load_settings(data_dir=tmp_path)))["staff PIN"]
    assert demo.status == "FAIL" and "demo PIN 2468" in demo.detail and "kiosk-provision staff-pin" in demo.fix
    result = CliRunner().invoke(kiosk_cli, ["--data-dir", str(tmp_path), "doctor", "--json"])
    assert result.exit_code == 1
    assert by_name([Check(**row) for row in json.loads(result.output)])["staff PIN"] == demo

    assert provision(tmp_path / "device", fleet).exit_code == 0
    assert _staff_pin(settings_of(tmp_path / "device", monkeypatch).ui).status == "OK"
    salt = bytes(16)
    cheap = str(ScryptHash(2**14, 8, 1, salt, hashlib.scrypt(PIN.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)))
    assert _staff_pin(load_settings(ui={"admin_pin_hash": cheap}).ui).status == "WARN"


def test_the_demo_runs_with_the_demo_pin_whatever_the_device_was_given(
    tmp_path: Path, fleet: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Demo mode: `kiosk demo` types 2468 on a throwaway kiosk, so it brings that PIN; the device keeps its own."""
    assert provision(tmp_path, fleet, "--staff-pin", PIN).exit_code == 0
    device = settings_of(tmp_path, monkeypatch)
    demo = demo_settings(device, tmp_path / "demo-data")
    assert demo.ui.admin_pin_hash == DEMO_PIN_HASH and demo.data_dir == tmp_path / "demo-data"
    assert not demo.sync.enabled and verify_pin(PIN, device.ui.admin_pin_hash)
