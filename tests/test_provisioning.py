"""Provisioning for real: a broker configured by ``fleet broker-config``, kiosks enrolled by ``kiosk-provision``.

One Mosquitto for the module runs the generated config (TLS listener, client certificates, ACL) on a free
loopback port, logging everything. The tests show that a provisioned kiosk, started from the ``kiosk.toml``
provisioning wrote, connects, files a ticket that ``fleet serve`` (with its own client certificate) stores and
acknowledges, and shows online in ``fleet devices``; that one device can neither publish nor read under
another's prefix (the broker answers a forged publish with reason code 135, not authorized); and that an
unknown certificate, an expired one and a plain-text connection are refused, each with the broker's reason
printed from its log and asserted on. The kiosks' keys are sealed with the key-file backend (``--sealing keyfile``:
systemd-creds would depend on the test machine's host key): no plain private key is left on disk, and a copy of
the provisioned root without its sealing key cannot connect.
"""

from __future__ import annotations

import copy
import json
import os
import pwd
import shutil
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from firmware_app.config import load_settings
from firmware_app.store import open_database
from firmware_app.sync.service import KioskSync
from firmware_app.tickets.store import TicketStore
from fleet.broker_config import BACKEND_PUBLISHES, DEVICE_PUBLISHES
from kiosk_link import pki, wire
from kiosk_link.secret_store import SecretError
from kiosk_link.tls import client_context
from provisioning.cli import main as kiosk_provision
from tests.mosquitto import MOSQUITTO, GeneratedMosquitto, free_port
from tests.test_sync_broker import FleetProcess, file_tickets, wait_until

pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (scripts/setup.sh test installs it)"
)

BIN = Path(sys.executable).parent  # the console scripts installed with the package
# An MQTT 5 CONNECT (clean start, keep-alive 60 s, client id "abc"): what a client sends first once TLS is up.
CONNECT = bytes.fromhex("101000044d5154540502003c000003616263")
CONNACK = 0x20


@dataclass(frozen=True)
class Fleet:
    ca: Path
    update_key: Path
    broker: GeneratedMosquitto
    kiosks: dict[str, Path]  # device id -> its provisioned /etc/kiosk

    @property
    def backend_port(self) -> int:
        """The backend's own listener: ``fleet broker-config`` puts it on the port after the kiosks'."""
        return self.broker.port + 1

    def backend_listener(self) -> GeneratedMosquitto:
        """The broker as the backend's processes reach it (for ``FleetProcess``, which connects to ``port``)."""
        listener = copy.copy(self.broker)
        listener.port = self.backend_port
        return listener

    def backend_tls(self) -> ssl.SSLContext:
        context = client_context(self.ca / pki.CA_CERT, self.ca / pki.BACKEND_CERT, self.ca / pki.BACKEND_KEY)
        assert context is not None
        return context

    def new_log_lines(self, mark: int, needle: str) -> list[str]:
        """Broker log lines after line ``mark`` containing ``needle``, once there is one (printed for the record)."""
        found: list[str] = []

        def logged() -> bool:
            found[:] = [line for line in self.broker.log_lines()[mark:] if needle in line]
            return bool(found)

        wait_until(logged, f"{needle!r} in the broker log", timeout=5)
        print("broker:", *found, sep="\n  ")
        return found


def run(*args: object) -> str:
    done = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, timeout=60)
    print(f"$ {' '.join(str(arg) for arg in args)}\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, done.stderr
    return done.stdout


def provision(root: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kiosk-provision"), "--root", str(root), "--sealing", "keyfile", *map(str, args)],
        capture_output=True,
        text=True,
    )


def identity(etc: Path) -> ssl.SSLContext:
    """The TLS identity a provisioned kiosk's kiosk.toml names."""
    current = etc / "identity" / "current"
    context = client_context(
        etc / "fleet-ca.pem", current / "cert.pem", current / "key.sealed", etc / "keys" / "secrets.key"
    )
    assert context is not None
    return context


def plain_private_keys(root: Path) -> list[Path]:
    """Files under ``root`` holding a plain PEM private key: provisioning must leave none."""
    return [path for path in root.rglob("*") if path.is_file() and b"PRIVATE KEY-----" in path.read_bytes()]


def free_port_pair() -> int:
    """A free port whose next one is free too: the generated broker listens on both."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The fleet side (one command each: CA, release key, broker config) and two kiosks (one command each)."""
    folder = tmp_path_factory.mktemp("fleet")
    ca, keys, port = folder / "ca", folder / "keys", free_port_pair()
    run(BIN / "fleet", "ca", "init", "--out", ca, "--host", "127.0.0.1", "--host", "localhost")
    run(BIN / "fleet", "keys", "generate", "--out", keys)
    config = folder / "broker-config"
    run(BIN / "fleet", "broker-config", "--ca-dir", ca, "--out", config, "--port", port, "--bind", "127.0.0.1")
    broker = GeneratedMosquitto(folder / "broker", config / "mosquitto.conf", port)
    broker.start()
    kiosks = {}
    for device_id in ("kiosk-a", "kiosk-b"):
        root = folder / device_id
        enrolled = provision(
            root, "init", "--device-id", device_id, "--broker-host", "127.0.0.1", "--broker-port", port,
            "--update-key", keys / "release-signing.pub", "--ca-dir", ca,
        )  # fmt: skip
        print(enrolled.stdout, enrolled.stderr)
        assert enrolled.returncode == 0, enrolled.stderr
        kiosks[device_id] = root / "etc" / "kiosk"
    yield Fleet(ca, keys / "release-signing.pub", broker, kiosks)
    broker.stop()


class Client:
    """A paho MQTT 5 client with a TLS identity on its own network thread, recording what the broker sends."""

    def __init__(self, fleet: Fleet, name: str, context: ssl.SSLContext, port: int | None = None) -> None:
        """Connect as client id ``name`` to the kiosks' listener, or to ``port`` (the backend's)."""
        self.raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        self.raw.tls_set_context(context)
        self.messages: list[tuple[str, bytes]] = []
        self.pubacks: dict[int, ReasonCode] = {}
        connected, self._subscribed = threading.Event(), threading.Event()
        self.raw.on_connect = lambda *args: connected.set()
        self.raw.on_subscribe = lambda *args: self._subscribed.set()
        self.disconnected = threading.Event()  # by the broker (another connection took this one's client id)
        self.raw.on_disconnect = lambda *args: self.disconnected.set()
        self.raw.on_publish = lambda client, userdata, mid, reason, props: self.pubacks.__setitem__(mid, reason)
        self.raw.on_message = lambda client, userdata, message: self.messages.append(
            (message.topic, bytes(message.payload))
        )
        self.raw.connect(fleet.broker.host, port or fleet.broker.port)
        self.raw.loop_start()
        assert connected.wait(5), f"{name} could not connect"

    def subscribe(self, *topics: str) -> None:
        self._subscribed.clear()
        self.raw.subscribe([(topic, 1) for topic in topics])
        assert self._subscribed.wait(5), f"no SUBACK for {topics}"

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the reason code of the broker's PUBACK."""
        info = self.raw.publish(topic, payload, qos=1)
        wait_until(lambda: info.mid in self.pubacks, f"PUBACK for {topic}", timeout=5)
        return self.pubacks[info.mid]

    def received(self, topic: str) -> list[bytes]:
        return [payload for got, payload in self.messages if got == topic]

    def close(self) -> None:
        self.raw.disconnect()
        self.raw.loop_stop()


def test_the_acl_covers_exactly_the_wire_topics() -> None:
    assert set(DEVICE_PUBLISHES) | set(BACKEND_PUBLISHES) == set(wire.DEVICE_TOPICS)
    assert not set(DEVICE_PUBLISHES) & set(BACKEND_PUBLISHES)


def test_the_generated_broker_has_only_the_two_tls_listeners(fleet: Fleet) -> None:
    lines = fleet.broker.generated.read_text().splitlines()
    listeners = [number for number, line in enumerate(lines) if line.startswith("listener")]
    assert [lines[number] for number in listeners] == [
        f"listener {fleet.broker.port} 127.0.0.1",  # the kiosks'
        f"listener {fleet.backend_port} 127.0.0.1",  # the backend's
    ]
    assert "allow_anonymous false" in lines[: listeners[0]]
    kiosks, backend = lines[listeners[0] : listeners[1]], lines[listeners[1] :]
    for block in (kiosks, backend):
        assert {"require_certificate true", "use_identity_as_username true"} <= set(block)
    assert "use_username_as_clientid true" in kiosks and "use_username_as_clientid true" not in backend


def test_a_provisioned_kiosk_connects_syncs_and_is_online(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = fleet.kiosks["kiosk-a"]
    monkeypatch.setenv("FLEET_MQTT_CA", str(fleet.ca / pki.CA_CERT))  # `fleet serve` inherits these
    monkeypatch.setenv("FLEET_MQTT_CERT", str(fleet.ca / pki.BACKEND_CERT))
    monkeypatch.setenv("FLEET_MQTT_KEY", str(fleet.ca / pki.BACKEND_KEY))
    monkeypatch.setenv("KIOSK_CONFIG", str(etc / "kiosk.toml"))
    settings = load_settings(data_dir=tmp_path / "kiosk")
    assert settings.device_id == "kiosk-a" and settings.sync.enabled
    assert settings.sync.cert_file == etc / "identity" / "current" / "cert.pem"
    assert settings.sync.key_file == etc / "identity" / "current" / "key.sealed"
    assert settings.sync.sealing_key_file == etc / "keys" / "secrets.key"
    assert plain_private_keys(etc.parent.parent) == []
    assert settings.updates.public_key == etc / "update-key.pem"
    mark = len(fleet.broker.log_lines())
    fleet_db = tmp_path / "fleet.db"
    backend = FleetProcess(fleet.backend_listener(), fleet_db, tmp_path / "fleet.log")
    db = open_database(settings.database_path)
    sync = KioskSync.from_settings(settings)
    sync.start()
    try:
        (ticket_id,) = file_tickets(TicketStore(db, settings.device_id), 1)

        def acknowledged() -> bool:
            return db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0

        wait_until(acknowledged, "the backend's acknowledgement (outbox emptied)")
        with sqlite3.connect(fleet_db) as conn:
            assert [row[0] for row in conn.execute("SELECT id FROM tickets")] == [ticket_id]
        (device,) = [
            json.loads(line) for line in run(BIN / "fleet", "--db", fleet_db, "devices", "--json").splitlines()
        ]
        assert (device["device_id"], device["state"], device["tickets"]) == ("kiosk-a", "online", 1)
    finally:
        sync.stop()
        backend.stop()
        db.close()
    fleet.new_log_lines(mark, "u'fleet-backend'")
    fleet.new_log_lines(mark, "as kiosk-a (p5")
    assert not [line for line in fleet.broker.log_lines()[mark:] if "Denied" in line]  # the real sync needs no more


def test_a_copied_root_without_its_sealing_key_cannot_connect(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a copy of the card's /etc/kiosk without keys/ (a backup, a cloned image) gets: no identity, a clear
    error at start, and another device's sealing key does not open it either."""
    root = tmp_path / "copy"
    shutil.copytree(fleet.kiosks["kiosk-a"].parent.parent, root, symlinks=True, ignore=shutil.ignore_patterns("keys"))
    etc = root / "etc" / "kiosk"
    (etc / "kiosk.toml").write_text(
        (fleet.kiosks["kiosk-a"] / "kiosk.toml").read_text().replace(str(fleet.kiosks["kiosk-a"]), str(etc))
    )
    monkeypatch.setenv("KIOSK_CONFIG", str(etc / "kiosk.toml"))
    settings = load_settings(data_dir=tmp_path / "kiosk")
    assert settings.sync.sealing_key_file == etc / "keys" / "secrets.key"
    with pytest.raises(SecretError, match=r"no secrets key at .*provision the device first"):
        KioskSync.from_settings(settings)
    current = etc / "identity" / "current"
    other_key = fleet.kiosks["kiosk-b"] / "keys" / "secrets.key"
    with pytest.raises(SecretError, match="cannot open secret 'tls-key'"):
        client_context(etc / "fleet-ca.pem", current / "cert.pem", current / "key.sealed", other_key)


def test_a_device_cannot_publish_or_read_under_another_devices_prefix(fleet: Fleet) -> None:
    a = Client(fleet, "kiosk-a", identity(fleet.kiosks["kiosk-a"]))
    b = Client(fleet, "kiosk-b", identity(fleet.kiosks["kiosk-b"]))
    backend = Client(fleet, "fleet-acl-test", fleet.backend_tls(), fleet.backend_port)
    try:
        a.subscribe(f"{wire.KIOSK_PREFIX}/#", wire.device_topic("kiosk-b", "acks"))  # granted, yet...
        b.subscribe(wire.device_topic("kiosk-b", "acks"))
        backend.subscribe(wire.device_filter("tickets"))
        mark = len(fleet.broker.log_lines())
        forged = a.publish(wire.device_topic("kiosk-b", "tickets"), b"a forged ticket")
        release = a.publish(wire.release_topic("stable"), b"a forged release")
        own = a.publish(wire.device_topic("kiosk-a", "tickets"), b"a's own ticket")
        print(f"PUBACK: B's prefix {forged} ({forged.value}), releases {release} ({release.value}), own {own}")
        assert (forged.value, release.value, own.value) == (135, 135, 0)
        assert [payload for _, payload in backend.messages] == [b"a's own ticket"]
        denied = fleet.new_log_lines(mark, "Denied PUBLISH from kiosk-a")
        assert len(denied) == 2 and "kiosk/v1/kiosk-b/tickets" in denied[0]
        assert len(fleet.new_log_lines(mark, "rc135)")) == 2  # "Sending PUBACK to kiosk-a (m2, rc135)"

        # ...a reads nothing of b: b's status and b's acknowledgement are routed before a's own acknowledgement,
        # so once a has that, anything of b's would have reached it already.
        assert b.publish(wire.device_topic("kiosk-b", "status"), b"b online").value == 0
        backend.publish(wire.device_topic("kiosk-b", "acks"), b"ack for b")
        backend.publish(wire.device_topic("kiosk-a", "acks"), b"ack for a")
        wait_until(lambda: a.received(wire.device_topic("kiosk-a", "acks")) == [b"ack for a"], "a's own ack")
        wait_until(lambda: b.received(wire.device_topic("kiosk-b", "acks")) == [b"ack for b"], "b's ack")
        assert [topic for topic, _ in a.messages if "/kiosk-b/" in topic] == []
    finally:
        for client in (a, b, backend):
            client.close()


def test_a_device_cannot_take_over_another_devices_client_id(fleet: Fleet) -> None:
    """Device A connecting under B's client id (or a backend process's) gets its own CN as its id instead: B and
    the backend stay connected and B still gets what is sent to it; several backend processes share the
    backend's certificate, each under its own id, without throwing one another off."""
    b = Client(fleet, "kiosk-b", identity(fleet.kiosks["kiosk-b"]))
    backends = [Client(fleet, f"fleet-ingest-test-{n}", fleet.backend_tls(), fleet.backend_port) for n in (1, 2)]
    mark = len(fleet.broker.log_lines())
    try:
        b.subscribe(wire.device_topic("kiosk-b", "acks"))
        for claimed in ("kiosk-b", "fleet-ingest-test-1"):
            a = Client(fleet, claimed, identity(fleet.kiosks["kiosk-a"]))
            fleet.new_log_lines(mark, "as kiosk-a (p5")  # "New client connected from ... as kiosk-a (p5, ..."
            a.close()
        backends[0].publish(wire.device_topic("kiosk-b", "acks"), b"ack for b")
        wait_until(lambda: b.received(wire.device_topic("kiosk-b", "acks")) == [b"ack for b"], "b's ack")
        assert not [client for client in (b, *backends) if client.disconnected.is_set()]
        assert not [line for line in fleet.broker.log_lines()[mark:] if "already connected" in line]
    finally:
        for client in (b, *backends):
            client.close()


def attempt(fleet: Fleet, context: ssl.SSLContext | None) -> str:
    """Connect (over TLS with ``context``, or in plain text) and send CONNECT; what the client got back."""
    with socket.create_connection((fleet.broker.host, fleet.broker.port), timeout=5) as raw:
        try:
            if context is None:
                raw.sendall(CONNECT)
                answer = raw.recv(64)
            else:
                with context.wrap_socket(raw, server_hostname=fleet.broker.host) as tls:
                    # TLS 1.3 checks the client's certificate after the handshake: a refusal is an alert that
                    # arrives unasked, and sending first could meet a closed socket instead of reading it.
                    tls.settimeout(1.0)
                    try:
                        answer = tls.recv(64)
                    except TimeoutError:  # accepted: the broker waits for CONNECT
                        tls.settimeout(5.0)
                        tls.sendall(CONNECT)
                        answer = tls.recv(64)
        except (ssl.SSLError, ConnectionResetError) as exc:
            return f"{type(exc).__name__}: {exc}"
    return f"answer {answer!r}"


def device_identity(folder: Path, authority: pki.FleetCa, fleet: Fleet, **issue: object) -> ssl.SSLContext:
    """A key and certificate for "kiosk-a" signed by ``authority`` (``issue``: validity), trusting the fleet CA."""
    folder.mkdir(parents=True, exist_ok=True)
    key = pki.new_key()
    cert = authority.issue(pki.device_csr("kiosk-a", key), **issue)  # type: ignore[arg-type]
    pki.write_private_key(folder / "key.pem", key)
    (folder / "cert.pem").write_bytes(pki.cert_pem(cert))
    context = client_context(fleet.ca / pki.CA_CERT, folder / "cert.pem", folder / "key.pem")
    assert context is not None
    return context


def test_the_broker_answers_a_valid_certificate(fleet: Fleet) -> None:
    """The control for the refusals below: the same raw CONNECT with kiosk-a's own certificate gets a CONNACK."""
    answer = attempt(fleet, identity(fleet.kiosks["kiosk-a"]))
    assert answer.startswith("answer b' "), answer  # 0x20: CONNACK


@pytest.mark.parametrize(
    ("case", "client_sees", "broker_says"),
    [
        ("unknown CA", "ALERT_UNKNOWN_CA", "certificate verify failed"),
        ("expired", "ALERT_CERTIFICATE_EXPIRED", "certificate verify failed"),
        ("plain text", "", "wrong version number"),
    ],
)
def test_refused_connections(fleet: Fleet, tmp_path: Path, case: str, client_sees: str, broker_says: str) -> None:
    if case == "unknown CA":  # a CA of its own, naming a real device
        context: ssl.SSLContext | None = device_identity(
            tmp_path / "id", pki.FleetCa.init(tmp_path / "other-ca", ("127.0.0.1",)), fleet
        )
    elif case == "expired":  # signed by the fleet CA, valid for 30 days in 2020
        context = device_identity(
            tmp_path / "id", pki.FleetCa.load(fleet.ca), fleet, days=30, not_before=datetime(2020, 1, 1, tzinfo=UTC)
        )
    else:
        context = None
    mark = len(fleet.broker.log_lines())
    answer = attempt(fleet, context)
    print(f"{case}: the client saw {answer}")
    assert not answer.startswith("answer b' ")  # no CONNACK
    assert client_sees in answer
    (line, *_) = fleet.new_log_lines(mark, broker_says)
    assert "OpenSSL Error" in line or "Client connection from 127.0.0.1 failed" in line


def test_provisioning_sets_permissions_refuses_to_overwrite_and_rotates(fleet: Fleet, tmp_path: Path) -> None:
    user = "nobody"  # an existing user stands for the kiosk user: as root, the key is handed to it
    runner = CliRunner()
    base = ["--root", str(tmp_path), "--user", user, "--sealing", "keyfile"]
    init = [*base, "init", "--device-id", "kiosk-p", "--broker-host", "127.0.0.1"]
    init += ["--update-key", str(fleet.update_key), "--ca-dir", str(fleet.ca)]
    first = runner.invoke(kiosk_provision, init)
    print(first.output)
    assert first.exit_code == 0, first.output
    etc = tmp_path / "etc" / "kiosk"
    current = etc / "identity" / "current"
    generation = current.resolve()
    modes = {
        etc: 0o750,
        etc / "identity": 0o750,
        generation: 0o750,
        generation / "key.sealed": 0o600,
        generation / "cert.pem": 0o644,
        etc / "keys": 0o750,
        etc / "keys" / "secrets.key": 0o600,
        etc / "kiosk.toml": 0o640,
        etc / "fleet-ca.pem": 0o644,
        etc / "update-key.pem": 0o644,
    }
    assert {path: stat.S_IMODE(path.stat().st_mode) for path in modes} == modes
    if os.geteuid() == 0:
        kiosk_user = pwd.getpwnam(user)
        assert (generation / "key.sealed").stat().st_uid == kiosk_user.pw_uid
        assert (etc / "keys" / "secrets.key").stat().st_uid == kiosk_user.pw_uid
        assert etc.stat().st_gid == kiosk_user.pw_gid and etc.stat().st_uid == 0
    else:
        assert "not root" in first.output

    again = runner.invoke(kiosk_provision, init)
    assert again.exit_code == 1 and "already provisioned" in again.output and current.resolve() == generation

    config = (etc / "kiosk.toml").read_text()
    rotated = runner.invoke(kiosk_provision, [*base, "rotate", "--ca-dir", str(fleet.ca)])
    assert rotated.exit_code == 0, rotated.output
    assert current.resolve() != generation and not generation.exists()  # the old pair went once the new was in
    assert (etc / "kiosk.toml").read_text() == config  # it names identity/current, which moved
    assert stat.S_IMODE((current / "key.sealed").stat().st_mode) == 0o600

    # Without the CA: a request, the current pair in use meanwhile; a certificate for another key is refused.
    in_use = current.resolve()
    assert runner.invoke(kiosk_provision, [*base, "rotate"]).exit_code == 0
    pending = etc / "identity" / "pending"
    assert (pending / "request.csr").is_file() and current.resolve() == in_use
    authority = pki.FleetCa.load(fleet.ca)
    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(pki.cert_pem(authority.issue(pki.device_csr("kiosk-p", pki.new_key()))))
    refused = runner.invoke(kiosk_provision, [*base, "install-cert", str(foreign)])
    assert refused.exit_code == 1 and "not for the pending key" in refused.output
    signed = tmp_path / "signed.pem"
    run(BIN / "fleet", "ca", "issue", "--ca-dir", fleet.ca, "--csr", pending / "request.csr", "--out", signed)
    installed = runner.invoke(kiosk_provision, [*base, "install-cert", str(signed)])
    assert installed.exit_code == 0, installed.output
    assert current.resolve() != in_use and not pending.exists()
    assert plain_private_keys(tmp_path) == []  # sealed from the start: not even the pending key was plain


def test_the_ca_signs_only_device_ids(tmp_path: Path) -> None:
    """The CN is the broker username the ACL trusts: the backend's name, or a wildcard, would widen it."""
    authority = pki.FleetCa.init(tmp_path / "ca", ("127.0.0.1",))
    with pytest.raises(ValueError, match="backend"):
        authority.issue(pki.device_csr(pki.BACKEND_IDENTITY, pki.new_key()))
    with pytest.raises(ValueError, match="not a valid id"):
        pki.device_csr("kiosk/#", pki.new_key())
    assert stat.S_IMODE((tmp_path / "ca" / pki.CA_KEY).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700
