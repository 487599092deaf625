"""``kiosk doctor``: is this device fit to serve customers, and if not, what to do about it.

A technician on site (or ``install.sh``'s last line) runs it as the kiosk user. Each check says OK, WARN (the kiosk
runs, with something missing: no camera, a nearly full disk) or FAIL (it will not run properly: a damaged model, a
corrupt database, an unreachable broker, a clock in the past), and every problem comes with a "fix:" line. Checks
only read: the database is opened read-only and no model is loaded, so it is safe beside a running kiosk.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import click

from firmware_app import audit
from firmware_app.config import KioskSettings, SyncConfig, UiConfig
from firmware_app.inference.manifest import ModelIntegrityError, load_manifest, sha256_file
from firmware_app.storage import MB, free_bytes
from firmware_app.vision.anomaly import BACKBONE
from firmware_app.vision.profiles import enrolled_root, read_entry
from kiosk_link.pin_hash import DEMO_PIN, is_legacy, is_weaker, verify_pin
from kiosk_link.secret_store import SecretError
from kiosk_link.tls import client_context

Status = Literal["OK", "WARN", "FAIL"]
DEFAULT_MIN_FREE_MB = 1024
BROKER_TIMEOUT_S = 3.0
# The clock may not be earlier than the software it runs: this file's modification time (from the wheel, or the
# copy install.sh made), less a day of slack for time zones.
SOFTWARE_DATE = datetime.datetime.fromtimestamp(Path(__file__).stat().st_mtime, datetime.UTC) - datetime.timedelta(1)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def run_checks(settings: KioskSettings, min_free_mb: int = DEFAULT_MIN_FREE_MB) -> list[Check]:
    return [
        *_audio(settings),
        _camera(settings),
        _display(),
        *_models(settings.models_dir),
        *_taught_parts(settings.data_dir, settings.models_dir),
        _database(settings.database_path),
        _audit_log(settings.database_path),
        _broker(settings.sync),
        *_clock(),
        _disk(settings.data_dir, min_free_mb),
        _staff_pin(settings.ui),
        *_running_kiosk(settings.health_report_path),
    ]


def _audio(settings: KioskSettings) -> Iterator[Check]:
    from firmware_app.audio.sources import AudioDeviceError, find_device, open_portaudio

    portaudio = open_portaudio()
    try:
        for direction, wanted, role in (
            ("input", settings.listening.input_device, "microphone"),
            ("output", settings.listening.output_device, "loudspeaker"),
        ):
            try:
                device = find_device(portaudio, wanted, direction)  # type: ignore[arg-type]
            except AudioDeviceError as error:
                yield Check(
                    role,
                    "WARN",
                    f"{error}; the kiosk runs touch-only" if role == "microphone" else f"{error}; answers not spoken",
                    f"plug in a USB {role}, check that the kiosk user is in group 'audio', and set [listening] "
                    f"{direction}_device to a device from `kiosk audio devices`",
                )
            else:
                yield Check(role, "OK", f"{device.index}: {device.name} ({device.default_rate_hz} Hz)")
    finally:
        portaudio.terminate()


def _camera(settings: KioskSettings) -> Check:
    device = settings.ui.camera_device
    if device is None:
        return Check("camera", "OK", "none configured ([ui] camera_device unset): no technician photos")
    from firmware_app.vision.capture import CameraSource

    try:
        CameraSource(device).close()  # OpenCV's own warnings are silenced: this check says what went wrong
    except OSError as error:
        present = sorted(str(path) for path in Path("/dev").glob("video*"))
        seen = f"this machine has {', '.join(present)}" if present else "this machine has no /dev/video* device"
        return Check(
            "camera",
            "WARN",
            f"{error} ({seen}); technicians cannot take photos",
            "plug the camera in (`ls /dev/video*`), check the kiosk user is in group 'video', or remove "
            "[ui] camera_device",
        )
    return Check("camera", "OK", f"{device!r} opens")


def _display() -> Check:
    """``kiosk.service`` draws through cage on the GPU; a shell (ssh) has no display of its own, which is fine."""
    for variable in ("WAYLAND_DISPLAY", "DISPLAY"):
        if os.environ.get(variable):
            return Check("display", "OK", f"{variable}={os.environ[variable]}")
    cards = sorted(Path("/dev/dri").glob("card*")) if Path("/dev/dri").is_dir() else []
    if cards and shutil.which("cage"):
        return Check("display", "OK", f"no display in this shell; kiosk.service runs cage on {cards[0]}")
    return Check(
        "display",
        "WARN",
        "no WAYLAND_DISPLAY/DISPLAY, and no GPU (/dev/dri/card*) with cage installed: the screen would stay dark "
        "(SDL's dummy driver)",
        "connect the display, enable its KMS driver (Pi: dtoverlay=vc4-kms-v3d), and install cage (systemd/install.sh)",
    )


def _models(models_dir: Path) -> Iterator[Check]:
    """Every model and asset the manifest names, against its sha256 (the same hash the kiosk checks at load)."""
    fix = (
        f"reinstall the models so that {models_dir} matches its manifest: copy the file from an intact checkout or "
        "run systemd/install.sh from one (for models an update installed, publish that release again or roll it "
        "back); meanwhile an unusable intent model leaves the kiosk answering by keyword search, and it takes the "
        "repaired file within nlu.model_retry_s seconds, without a restart"
    )
    try:
        entries = load_manifest(models_dir)
    except (ModelIntegrityError, ValueError) as error:
        yield Check("models", "FAIL", str(error), fix)
        return
    for entry in entries.values():
        files: list[tuple[str, str, str | None]] = [(entry.name, entry.file, entry.sha256)]
        files += [
            (f"{entry.name}/{asset}", name, entry.assets_sha256.get(asset)) for asset, name in entry.assets.items()
        ]
        for label, name, expected in files:
            yield _file_hash(f"model {label}", models_dir / name, expected, fix)


def _taught_parts(data_dir: Path, models_dir: Path) -> Iterator[Check]:
    """Each part taught on this kiosk: its bank matches its manifest, and it was taught with the installed
    backbone (an update that replaced the backbone leaves the part unusable until it is taught again). WARN, not
    FAIL: the kiosk serves everything else, and the camera says that part is unavailable."""
    try:
        backbone = load_manifest(models_dir).get(BACKBONE)
    except (ModelIntegrityError, ValueError):
        backbone = None  # the models check reports it
    for folder in sorted(enrolled_root(data_dir).glob("*")):
        name = f"taught part {folder.name}"
        fix = f"teach it again: kiosk vision enrol --profile {folder.name} --good <folder of good photos>"
        try:
            entry = read_entry(folder, folder.name)
        except (OSError, ValueError, KeyError, ModelIntegrityError) as error:
            yield Check(name, "WARN", f"manifest unreadable: {error}", fix)
            continue
        check = _file_hash(name, folder / str(entry.get("file", "")), entry.get("sha256"), fix)
        if check.status != "OK":
            yield replace(check, status="WARN")
        elif backbone is None or entry.get("backbone_sha256") != backbone.sha256:
            yield Check(name, "WARN", f"taught with another {BACKBONE} model than the one installed", fix)
        else:
            yield Check(name, "OK", f"{entry.get('title', folder.name)!r}, bank matches, taught with this backbone")


def _file_hash(name: str, path: Path, expected: str | None, fix: str) -> Check:
    if not path.is_file():
        return Check(name, "FAIL", f"{path} is missing", fix)
    if expected is None:
        return Check(name, "OK", f"{path.name} present (the manifest records no sha256 for it)")
    actual = sha256_file(path)
    if actual != expected:
        return Check(name, "FAIL", f"{path.name} sha256 {actual[:12]}..., manifest says {expected[:12]}...", fix)
    return Check(name, "OK", f"{path.name} sha256 {actual[:12]}... matches")


def _database(path: Path) -> Check:
    from firmware_app.store import MIGRATIONS

    if not path.is_file():
        return Check("database", "OK", f"{path} does not exist yet (the kiosk creates it at start)")
    fix = (
        f"stop kiosk.service, keep the damaged file (mv {path} {path}.corrupt), salvage what it holds with "
        f"`sqlite3 {path}.corrupt .recover | sqlite3 {path}`, then start the kiosk"
    )
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            version = (
                int(conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] or 0)
                if "schema_migrations" in tables
                else 0
            )
    except sqlite3.DatabaseError as error:
        return Check("database", "FAIL", f"{path}: {error}", fix)
    if problems != ["ok"]:
        return Check("database", "FAIL", f"integrity_check: {'; '.join(problems[:3])}", fix)
    if version > len(MIGRATIONS):
        return Check(
            "database", "FAIL", f"schema {version} is newer than this kiosk ({len(MIGRATIONS)})", "install that version"
        )
    upgrade = "" if version == len(MIGRATIONS) else f" (migrated to {len(MIGRATIONS)} at the next start)"
    return Check("database", "OK", f"integrity ok, schema {version}{upgrade}")


def _audit_log(path: Path) -> Check:
    """The audit log's hash chain and guard triggers: an entry edited, deleted or added by hand, or a guard
    dropped, is a FAIL (``kiosk audit --verify`` lists every problem)."""
    if not path.is_file():
        return Check("audit log", "OK", "no database yet")
    try:
        problems = audit.verify_file(path)
    except sqlite3.DatabaseError as error:
        return Check("audit log", "FAIL", f"cannot be read: {error}", "see the database check")
    if problems:
        shown = "; ".join(str(problem) for problem in problems[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        fix = "keep a copy of the database for the investigation; `kiosk audit --verify` lists every problem"
        return Check("audit log", "FAIL", f"{shown}{more}", fix)
    return Check("audit log", "OK", "hash chain intact, guard triggers in place")


def _broker(sync: SyncConfig) -> Check:
    """The kiosk's own TLS context (``tls.client_context``, sealed key and all), so a pass here means the link can
    connect with exactly what it will present."""
    if not sync.enabled:
        return Check("broker", "OK", "[sync] enabled = false: tickets stay in the outbox")
    where = f"{sync.broker_host}:{sync.broker_port}"
    try:
        context = client_context(sync.ca_file, sync.cert_file, sync.key_file, sync.sealing_key_file)
    except (OSError, ssl.SSLError, SecretError) as error:
        return Check(
            "broker",
            "FAIL",
            f"TLS identity: {error}",
            "provision this device again (kiosk-provision) so that [sync] key_file, cert_file and "
            "sealing_key_file are its own",
        )
    fix = f"check the network and that the broker listens on {where}" + (
        " with the fleet CA's certificate (kiosk-provision, then `kiosk doctor` again)" if context is not None else ""
    )
    try:
        with socket.create_connection((sync.broker_host, sync.broker_port), timeout=BROKER_TIMEOUT_S) as raw:
            if context is None:
                return Check("broker", "OK", f"{where} accepts TCP connections (plain MQTT)")
            with context.wrap_socket(raw, server_hostname=sync.broker_host) as secure:
                return Check("broker", "OK", f"{where} TLS handshake ok ({secure.version()})")
    except (OSError, ssl.SSLError) as error:
        return Check("broker", "FAIL", f"{where}: {error}", fix)


def _clock(now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)) -> Iterator[Check]:
    current = now()
    if current < SOFTWARE_DATE:
        yield Check(
            "clock",
            "FAIL",
            f"{current:%Y-%m-%d %H:%M} UTC is before this software was built ({SOFTWARE_DATE:%Y-%m-%d}): "
            "certificates and release signatures will not verify",
            "set the time (`timedatectl set-time`, or let NTP do it) and fit an RTC battery if the board has one",
        )
    else:
        yield Check("clock", "OK", f"{current:%Y-%m-%d %H:%M} UTC")
    if shutil.which("timedatectl") is None:
        return
    done = subprocess.run(
        ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    if done.stdout.strip() == "yes":
        yield Check("time sync", "OK", "NTP synchronized")
    else:
        yield Check(
            "time sync",
            "WARN",
            f"not synchronized ({(done.stdout or done.stderr or 'no answer from timedated').strip().splitlines()[0]})",
            "systemctl enable --now systemd-timesyncd, and allow UDP 123 to the configured NTP servers",
        )


def _disk(data_dir: Path, min_free_mb: int) -> Check:
    existing = next(p for p in (data_dir, *data_dir.parents) if p.exists())  # before the first start
    free_mb = free_bytes(data_dir) // MB
    if free_mb < min_free_mb:
        return Check(
            "disk",
            "WARN",
            f"{free_mb} MB free under {existing} (below {min_free_mb} MB)",
            "free space: `journalctl --vacuum-size=100M`, remove old releases under updates/, or use a bigger card",
        )
    return Check("disk", "OK", f"{free_mb} MB free under {existing}")


# What to do about each capability the running kiosk reports on its fallback (``firmware_app.health``); the kiosk
# takes the repaired part by itself, without a restart.
DEGRADED_FIXES: dict[str, str] = {
    "intent_model": "see the models check: restore the intent model; the kiosk tries it every nlu.model_retry_s",
    "microphone": "plug the microphone in ([listening] input_device, `kiosk audio devices`); used within "
    "listening.retry_s",
    "speech_recognition": "reinstall the speech recognizers (scripts/setup.sh); tried again every listening.retry_s",
    "speech_output": "install the [speech] tts_engine and its voices (scripts/setup.sh); the next reply uses them",
    "loudspeaker": "plug the loudspeaker in ([listening] output_device, `kiosk audio devices`); used within "
    "listening.retry_s",
    "wake_word": "see the models check: restore the wake word's model; tried again every listening.retry_s",
    "camera": "plug the camera in ([ui] camera_device; the kiosk user must be in 'video'); used within "
    "ui.camera_retry_s",
    "defect_models": "see the models check: restore the defect model; the next photo uses it",
    "storage": "see the disk check: free space or make the data folder writable; new photos are taken again then",
    "broker": "see the broker check: the network or the broker; tickets wait in the outbox meanwhile",
}


def _running_kiosk(report_path: Path) -> Iterator[Check]:
    """What the kiosk that runs (or ran last) on this data folder serves on its fallback, from the report it
    keeps (``firmware_app.health.HealthReport``)."""
    try:
        report = json.loads(report_path.read_text())
        degraded = [(d["capability"], d["fallback"], d["reason"], d["since"]) for d in report["degraded"]]
        written, pid = str(report["written_at"]), int(report["pid"])
    except FileNotFoundError:
        yield Check("service", "OK", f"no report in {report_path}: the kiosk has not run on this data folder yet")
        return
    except (OSError, ValueError, KeyError, TypeError) as error:
        yield Check("service", "WARN", f"{report_path} unreadable: {error}", "the kiosk writes it again at start")
        return
    running = "running" if _process_alive(pid) else f"not running now; its last report, {written[:16]} UTC"
    if not degraded:
        yield Check("service", "OK", f"full service (the kiosk is {running})")
        return
    for capability, fallback, reason, since in degraded:
        detail = f"{fallback.replace('_', ' ')} since {since[:16]} UTC: {reason} (the kiosk is {running})"
        fix = DEGRADED_FIXES.get(capability, "see the checks above")
        yield Check(f"service: {capability.replace('_', ' ')}", "WARN", detail, fix)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process (the kiosk's, seen from an operator's shell)
    return True


def _staff_pin(ui: UiConfig) -> Check:
    """The demo PIN, or any PIN in the old unsalted form, opens the staff screen of every kiosk that has it: a
    device serving customers fails on both (``kiosk demo`` brings its own demo PIN, and never runs this)."""
    fix = "set this kiosk's own PIN: sudo kiosk-provision staff-pin (shows a new one once), then restart kiosk.service"
    if is_legacy(ui.admin_pin_hash):
        return Check("staff PIN", "FAIL", "stored as an unsalted sha256, which a table reverses at once", fix)
    if verify_pin(DEMO_PIN, ui.admin_pin_hash):
        return Check("staff PIN", "FAIL", f"the demo PIN {DEMO_PIN}: anyone who has seen a demo can open it", fix)
    if is_weaker(ui.admin_pin_hash):
        return Check("staff PIN", "WARN", "hashed with a lower scrypt cost than this version uses", fix)
    return Check("staff PIN", "OK", "this device's own, scrypt with its own salt")


def format_table(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    failed = sum(check.status == "FAIL" for check in checks)
    warned = sum(check.status == "WARN" for check in checks)
    lines.append(f"{failed} failed, {warned} warnings, {len(checks) - failed - warned} ok")
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON list of {name, status, detail, fix}.")
@click.option("--min-free-mb", default=DEFAULT_MIN_FREE_MB, show_default=True, help="Warn below this free space.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, min_free_mb: int) -> None:
    """Check devices, models, database, broker, clock, disk and staff PIN; print what to fix (exit code 1 on a FAIL)."""
    checks = run_checks(ctx.obj["settings"], min_free_mb)
    click.echo(json.dumps([asdict(check) for check in checks], indent=1) if as_json else format_table(checks))
    if any(check.status == "FAIL" for check in checks):
        ctx.exit(1)
