"""After an update installs, the fleet hears the new versions at once: a real signed release (a model and the
pack, 1.0.0 -> 1.0.1) travels through a real Mosquitto to a running kiosk, whose retained status then names the
installed model and pack, though the kiosk loads them only at its next quiet moment (``test_sync_reload``).
Before the fix ``fleet devices`` showed the old versions until the kiosk restarted."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_app.app import Kiosk
from firmware_app.inference.manifest import load_manifest
from fleet.releases import ReleaseStore
from kiosk_link import wire
from tests import test_sync_updates as update_tests
from tests.conftest import fixed_today
from tests.mosquitto import Mosquitto
from tests.test_sync_broker import client, subscribe, wait_until
from tests.test_sync_reload import NEW_VERSION, bank_pack
from tests.test_sync_updates import DEVICE, MODEL, SHIPPED_MODELS, kiosk_settings, model_dir, release

pytestmark = update_tests.pytestmark
broker, keys, store, start_backend = (
    update_tests.broker,
    update_tests.keys,
    update_tests.store,
    update_tests.start_backend,
)


def test_the_retained_status_names_an_installed_release_without_a_restart(
    tmp_path: Path,
    broker: Mosquitto,
    keys: tuple[Ed25519PrivateKey, Path],
    store: ReleaseStore,
    start_backend,
) -> None:
    key, public_key = keys
    statuses: list[bytes] = []
    fleet = client(broker, "fleet-devices")
    subscribe(fleet, wire.device_topic(DEVICE, "status"), statuses)
    kiosk = Kiosk(kiosk_settings(tmp_path, broker, public_key), today=fixed_today)

    def latest() -> wire.StatusV1 | None:
        return wire.parse(statuses[-1], wire.StatusV1) if statuses else None

    def names(model: str, pack: str) -> bool:
        status = latest()
        return (
            status is not None
            and status.state == "online"
            and status.versions.get(f"model:{MODEL}") == model
            and status.pack is not None
            and status.pack.version == pack
        )

    try:
        wait_until(lambda: names(load_manifest(SHIPPED_MODELS)[MODEL].version, "1.0.0"), "the shipped versions")
        published = release(store, key, model_dir(tmp_path, NEW_VERSION), pack=bank_pack(tmp_path, NEW_VERSION))
        start_backend()
        offer = fleet.publish(wire.device_topic(DEVICE, "release"), published.signed.encode(), qos=1, retain=True)
        offer.wait_for_publish(5)

        wait_until(lambda: names(NEW_VERSION, NEW_VERSION), "the status to name the installed release", timeout=30)
        assert kiosk.pack.manifest.version == "1.0.0"  # loaded at the next quiet moment, not by the link
    finally:
        kiosk.close()
        fleet.disconnect()
        fleet.loop_stop()
