"""The Mosquitto configuration of a fleet broker: two TLS listeners, client certificates, and a per-device ACL.

There is no plain-text listener and no anonymous access: every client shows a certificate signed by the fleet
CA, and its common name becomes its MQTT username (``use_identity_as_username``), which the ACL's ``%u``
patterns turn into "this device's own topics". The topics come from ``kiosk_link.wire`` split by who
publishes them (``DEVICE_PUBLISHES`` and ``BACKEND_PUBLISHES`` cover ``wire.DEVICE_TOPICS`` exactly, a test
checks it), so a device may publish only its own reports and read only what the backend sends it, and the
backend (``pki.BACKEND_IDENTITY``) the reverse for every device. A device reading the release channels is the
only thing devices share, and they only read it.

Client ids are tied to identities too. Mosquitto keeps one session per client id and closes the older of two
connections that use the same one, so a device free to pick its client id could throw another device off the
broker and take over its session. The kiosks' listener (``port``) therefore sets ``use_username_as_clientid``:
whatever id a device sends, the broker uses its certificate's CN. The backend cannot connect there: all its
processes (each ``fleet serve``, its rollout and console clients, ``fleet.link``) show the one backend
certificate, so they would all become "fleet-backend" and throw one another off. It has a listener of its own
(``backend_port``, by default the port after ``port``), where each process keeps the id it sends
(``fleet-<role>-<host>-<pid>``). Client ids are one namespace across listeners, and a listener cannot take the
backend's certificate while refusing the devices' (one CA signs both), so a device that reached the backend's
listener could still pick any id there: it listens on loopback unless ``backend_bind`` names an address only
the backend's hosts reach (a private network behind a firewall). The ACL is the same, so even there a device
gets only its own topics. Mosquitto offers nothing finer: ``clientid_prefixes`` applies to every listener and
its manual warns against combining it with ``use_username_as_clientid``, and a password file is not read when
the certificate's CN is the username.
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

from kiosk_link import pki, wire
from kiosk_link.durable import write_bytes_atomically

DEVICE_PUBLISHES: tuple[wire.DeviceTopic, ...] = (
    "status",
    "telemetry",
    "tickets",
    "attachments",
    "analytics",
    "update/request",
    "update/status",
)
BACKEND_PUBLISHES: tuple[wire.DeviceTopic, ...] = ("acks", "config", "update/chunk", "release", "handoff")
RELEASES = f"{wire.FLEET_PREFIX}/releases/+"  # wire.release_topic(channel) for every channel
MQTTS_PORT = 8883
BACKEND_BIND = "127.0.0.1"  # the backend's listener: loopback unless its hosts are elsewhere (see above)
CONFIG_NAME, ACL_NAME = "mosquitto.conf", "acl"
BROKER_USER = "mosquitto"  # Debian's broker drops to this user, which must be able to read the server key


def acl_text() -> str:
    """The ACL file: ``pattern`` lines for every device (``%u`` is its certificate's CN), then the backend."""
    device = [f"pattern write {wire.KIOSK_PREFIX}/%u/{kind}" for kind in DEVICE_PUBLISHES]
    device += [f"pattern read {wire.KIOSK_PREFIX}/%u/{kind}" for kind in BACKEND_PUBLISHES]
    device.append(f"pattern read {RELEASES}")
    backend = [f"user {pki.BACKEND_IDENTITY}"]
    backend += [f"topic read {wire.device_filter(kind)}" for kind in DEVICE_PUBLISHES]
    backend += [f"topic write {wire.device_filter(kind)}" for kind in BACKEND_PUBLISHES]
    backend.append(f"topic write {RELEASES}")
    header = [
        "# Written by `fleet broker-config`: each device its own kiosk/v1/<CN>/... topics, the backend all of them.",
        "# (Mosquitto warns that the releases pattern has no %u: it is the one thing every device may read.)",
    ]
    return "\n".join([*header, *device, "", *backend, ""])


def _tls_listener(folder: Path, port: int, bind: str | None) -> list[str]:
    """A listener that takes only clients with a certificate of the fleet CA, their CN as the username."""
    return [
        f"listener {port} {bind}" if bind else f"listener {port}",
        f"cafile {folder / pki.CA_CERT}",
        f"certfile {folder / pki.SERVER_CERT}",
        f"keyfile {folder / pki.SERVER_KEY}",
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.2",  # the oldest accepted
    ]


def config_text(
    folder: Path, port: int, bind: str | None, backend_port: int | None = None, backend_bind: str | None = BACKEND_BIND
) -> str:
    """``mosquitto.conf`` for the certificates and ACL in ``folder``: the kiosks' listener on ``port``, the
    backend's on ``backend_port`` (None: ``port + 1``)."""
    return "\n".join(
        [
            "# Written by `fleet broker-config`: TLS with client certificates only, no anonymous or plain-text access.",
            "per_listener_settings false",
            "allow_anonymous false",
            f"acl_file {folder / ACL_NAME}",
            "set_tcp_nodelay true",
            # Kiosks flushing their outboxes keep up to 500 QoS 1 messages in flight each; the default 1,000 per
            # client would drop deliveries to a backend taking several of them.
            "max_queued_messages 100000",
            "# The kiosks: a client's id is its certificate's CN, whatever it sends, so none can take another's.",
            *_tls_listener(folder, port, bind),
            "use_username_as_clientid true",
            "# The backend's processes, each with an id of its own: for the backend's hosts only.",
            *_tls_listener(folder, port + 1 if backend_port is None else backend_port, backend_bind),
            "",
        ]
    )


def write_broker_config(
    ca: Path,
    out: Path,
    port: int = MQTTS_PORT,
    bind: str | None = None,
    backend_port: int | None = None,
    backend_bind: str | None = BACKEND_BIND,
) -> Path:
    """Copy the CA certificate and the broker's certificate and key from the CA folder ``ca`` into ``out`` (the
    broker never needs the CA key), write the config and ACL there, and return the config's path. The listeners
    are as ``config_text`` says."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (pki.CA_CERT, pki.SERVER_CERT):
        shutil.copyfile(ca / name, out / name)
    write_bytes_atomically(out / pki.SERVER_KEY, (ca / pki.SERVER_KEY).read_bytes(), 0o600)
    if os.geteuid() == 0:
        try:
            broker = pwd.getpwnam(BROKER_USER)
        except KeyError:
            pass  # no packaged broker here: the key stays root's
        else:
            os.chown(out / pki.SERVER_KEY, broker.pw_uid, broker.pw_gid)
    (out / ACL_NAME).write_text(acl_text(), encoding="utf-8")
    config = out / CONFIG_NAME
    config.write_text(config_text(out.resolve(), port, bind, backend_port, backend_bind), encoding="utf-8")
    return config
