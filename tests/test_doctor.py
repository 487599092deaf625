"""``kiosk doctor`` on this machine, and on a device with each of the problems it is meant to catch."""

from __future__ import annotations

import datetime
import json
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from firmware_app import audit
from firmware_app.app import Kiosk
from firmware_app.cli import main
from firmware_app.config import REPO_ROOT, load_settings
from firmware_app.doctor import Check, _camera, _clock, format_table, run_checks
from firmware_app.store import MIGRATIONS, open_database
from kiosk_link import pki
from kiosk_link.pin_hash import hash_pin
from kiosk_link.secret_store import encrypt_bytes
from kiosk_link.tls import SEALED_KEY_NAME

MODELS = REPO_ROOT / "models" / "int8"


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def _kiosk_db(data_dir: Path) -> Path:
    db = open_database(data_dir / "kiosk.db")
    db.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, text TEXT)")
    db.conn.executemany("INSERT INTO filler (text) VALUES (?)", [("x" * 200,) for _ in range(2000)])
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return data_dir / "kiosk.db"


def test_a_healthy_kiosk_passes_the_model_and_database_checks(tmp_path: Path) -> None:
    _kiosk_db(tmp_path)
    checks = run_checks(load_settings(data_dir=tmp_path, ui={"admin_pin_hash": hash_pin("40731985")}))
    models = [check for check in checks if check.name.startswith("model ")]
    assert {"model intent-minilm-bank", "model intent-minilm-bank/tokenizer", "model pcb/crop_net"} <= {
        check.name for check in models
    }
    assert all(check.status == "OK" for check in models), models
    assert _by_name(checks)["database"] == Check("database", "OK", f"integrity ok, schema {len(MIGRATIONS)}")
    assert not [check for check in checks if check.status == "FAIL"], format_table(checks)


def test_a_damaged_model_fails_with_its_fix_and_exit_code_1(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    damaged = models / "pcb.crops.int8.onnx"  # an asset, checked against the manifest's assets_sha256
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path / "data"), "doctor", "--json"], env={"KIOSK_MODELS_DIR": str(models)}
    )
    assert result.exit_code == 1, result.output
    checks = _by_name([Check(**row) for row in json.loads(result.output)])
    assert checks["model pcb/crop_net"].status == "FAIL"
    assert "manifest says 933c43670936" in checks["model pcb/crop_net"].detail
    assert "reinstall the models" in checks["model pcb/crop_net"].fix
    assert checks["model pcb"].status == "OK"


def test_a_corrupt_database_fails_with_how_to_salvage_it(tmp_path: Path) -> None:
    path = _kiosk_db(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096  # a b-tree page in the middle
    path.write_bytes(bytes(data))
    check = _by_name(run_checks(load_settings(data_dir=tmp_path)))["database"]
    assert check.status == "FAIL", check
    assert ".recover" in check.fix and "stop kiosk.service" in check.fix

    path.write_bytes(b"not a database at all" * 100)
    check = _by_name(run_checks(load_settings(data_dir=tmp_path)))["database"]
    assert check.status == "FAIL" and "not a database" in check.detail


def test_a_nearly_full_disk_warns() -> None:
    settings = load_settings(data_dir=Path("/nonexistent/kiosk"))  # the first existing parent is measured
    check = _by_name(run_checks(settings, min_free_mb=10**9))["disk"]
    assert check.status == "WARN" and "below 1000000000 MB" in check.detail
    assert "journalctl --vacuum-size" in check.fix


def test_a_missing_camera_is_reported_in_doctors_words_without_opencvs_own_lines(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """OpenCV prints "[ WARN:0@0.03] global cap_v4l.cpp:914 open VIDEOIO(V4L2:/dev/video63)..." straight to the
    process's stderr when a camera does not open; the check silences that and says what it found itself."""
    camera = _camera(load_settings(data_dir=tmp_path, ui={"camera_device": 63}))
    err = capfd.readouterr().err
    assert "VIDEOIO" not in err and "WARN:" not in err, err
    assert camera.status == "WARN" and camera.detail.startswith("no camera at 63"), camera
    assert "/dev/video" in camera.detail and "technicians cannot take photos" in camera.detail


def test_an_unreachable_broker_fails_when_sync_is_on(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load_settings(data_dir=tmp_path, sync={"enabled": True, "broker_port": port})
    result = CliRunner().invoke(
        main,
        ["--data-dir", str(tmp_path), "doctor"],
        env={"KIOSK_SYNC__ENABLED": "true", "KIOSK_SYNC__BROKER_PORT": str(port)},
    )
    assert result.exit_code == 1
    assert "FAIL  broker" in result.output and "fix: check the network" in result.output
    check = _by_name(run_checks(settings))["broker"]
    assert check.status == "FAIL" and "refused" in check.detail.lower()

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        settings.sync.broker_port = listening.getsockname()[1]
        assert _by_name(run_checks(settings))["broker"].status == "OK"


def test_a_sealed_key_that_cannot_be_opened_fails_the_broker_check(tmp_path: Path) -> None:
    """The doctor builds the link's own TLS context: a sealed key whose sealing key is gone fails before any
    connection, with what to do, instead of a handshake error that would blame the network."""
    authority = pki.FleetCa.init(tmp_path / "ca", ("127.0.0.1",))
    key = pki.new_key()
    (tmp_path / "cert.pem").write_bytes(pki.cert_pem(authority.issue(pki.device_csr("kiosk-d", key))))
    pki.write_private_key(tmp_path / "key.pem", key)
    sealing_key = tmp_path / "keys" / "secrets.key"
    encrypt_bytes((tmp_path / "key.pem").read_bytes(), tmp_path / "key.sealed", SEALED_KEY_NAME, sealing_key, "keyfile")
    tls = {"ca_file": tmp_path / "ca" / pki.CA_CERT, "cert_file": tmp_path / "cert.pem"}
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        sync = {"enabled": True, "broker_port": port, **tls, "sealing_key_file": sealing_key}
        sealed = load_settings(data_dir=tmp_path, sync={**sync, "key_file": tmp_path / "key.sealed"})
        plain = load_settings(data_dir=tmp_path, sync={**sync, "key_file": tmp_path / "key.pem"})
        sealing_key.unlink()
        check = _by_name(run_checks(sealed))["broker"]
        assert check.status == "FAIL" and "TLS identity: no secrets key at" in check.detail
        assert "kiosk-provision" in check.fix
        # A plain key still loads; the listener here is no TLS broker, so the handshake itself fails.
        assert "TLS identity" not in _by_name(run_checks(plain))["broker"].detail


def test_a_clock_in_the_past_fails() -> None:
    checks = list(_clock(lambda: datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)))
    assert checks[0].status == "FAIL" and "set the time" in checks[0].fix


def test_a_tampered_audit_log_fails_the_doctor(tmp_path: Path) -> None:
    """An entry edited with the guard dropped (as someone with the sqlite3 shell would) is a FAIL, with the fix."""
    db = open_database(tmp_path / "kiosk.db")
    for number in range(3):
        audit.record(db, "cli", f"action_{number}", {"n": number})
    db.close()
    settings = load_settings(data_dir=tmp_path, ui={"admin_pin_hash": hash_pin("40731985")})
    assert _by_name(run_checks(settings))["audit log"].status == "OK"
    with sqlite3.connect(tmp_path / "kiosk.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET action = 'nothing_to_see' WHERE id = 2")
    check = _by_name(run_checks(settings))["audit log"]
    assert check.status == "FAIL" and "guard" in check.detail and "edited" in check.detail, check
    assert "kiosk audit --verify" in (check.fix or "")


def test_a_taught_part_is_checked_against_its_bank_and_the_installed_backbone(tmp_path: Path) -> None:
    from firmware_app.vision.anomaly import PatchFeatureExtractor
    from firmware_app.vision.enrolment import enrol_part
    from firmware_app.vision.profiles import enrolled_root
    from tests.synthetic_part import flange

    settings = load_settings(data_dir=tmp_path)
    folder = enrolled_root(tmp_path) / "flange"
    extractor = PatchFeatureExtractor(settings.models_dir, 160, "standard")
    enrol_part("flange", "Flange 80 mm", {f"{seed}.png": flange(seed) for seed in range(4)}, extractor, folder)
    assert _by_name(run_checks(settings))["taught part flange"].status == "OK"

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["models"][0]["backbone_sha256"] = "0" * 64  # as after an update that replaced the backbone
    (folder / "manifest.json").write_text(json.dumps(manifest))
    check = _by_name(run_checks(settings))["taught part flange"]
    assert check.status == "WARN" and "another patch-features" in check.detail and "vision enrol" in check.fix

    (folder / "flange.bank.npz").write_bytes(b"damaged")
    check = _by_name(run_checks(settings))["taught part flange"]
    assert check.status == "WARN" and "sha256" in check.detail


def test_what_the_running_kiosk_serves_on_its_fallback_is_reported_with_its_fix(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", ui={"admin_pin_hash": hash_pin("40731985")})
    assert _by_name(run_checks(settings))["service"].detail.startswith("no report")
    kiosk = Kiosk(settings)
    try:
        assert _by_name(run_checks(settings))["service"] == Check(
            "service", "OK", "full service (the kiosk is running)"
        )
        kiosk.capabilities.degraded("camera", "no camera at '/dev/video0'", "no_photos")
        kiosk.capabilities.degraded("loudspeaker", "no loudspeaker: no output device", "text_only")
        checks = _by_name(run_checks(settings))
        camera, loudspeaker = checks["service: camera"], checks["service: loudspeaker"]
        assert camera.status == "WARN" and "no photos since" in camera.detail and "/dev/video0" in camera.detail
        assert "camera_retry_s" in camera.fix and "output_device" in loudspeaker.fix
        kiosk.capabilities.ok("camera")  # plugged back in
        assert "service: camera" not in _by_name(run_checks(settings))
    finally:
        kiosk.close()
    report = json.loads(settings.health_report_path.read_text())
    report["pid"] = 2**22 + 1  # no such process: the kiosk has stopped since
    settings.health_report_path.write_text(json.dumps(report))
    assert "not running now" in _by_name(run_checks(settings))["service: loudspeaker"].detail
    settings.health_report_path.write_text("{not json")
    assert _by_name(run_checks(settings))["service"].status == "WARN"
