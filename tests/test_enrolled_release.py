"""A part enrolled at one kiosk, released to the others through the fleet's ordinary signed release path.

The profile folder ``kiosk vision enrol --out <staging>/flange`` writes (a one-entry models manifest and the
memory bank) is put in the backend's staging folder; the console lists it as a model and signs a release of it,
and a second kiosk takes that release through its real updater (signature, chunks, unpack into a new models
version merged with the shipped models, switch, self-test, commit), driven here without a broker: the backend's
``ReleaseStore.chunk`` answers each chunk request the kiosk makes. Enrolled once per module on 6 good photos of
the synthetic flange (``tests/synthetic_part.py``); the verdicts are the int8 backbone's, nothing mocked.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from firmware_app.config import REPO_ROOT, KioskSettings, installed_link, load_settings
from firmware_app.inference.manifest import load_manifest, verified_model_path
from firmware_app.sync.install import installed_releases
from firmware_app.sync.telemetry import MAX_VERSIONS, wire_versions
from firmware_app.sync.updates import FINAL_STATES, Updater
from firmware_app.vision.anomaly import PatchFeatureExtractor
from firmware_app.vision.enrolment import enrol_part
from firmware_app.vision.profiles import enrolled_profiles, open_profile
from fleet.cli import main as fleet_main
from fleet.console.artifacts import Staged, source, staged
from fleet.releases import ArtifactSource, Release, ReleaseStore, model_source
from fleet.signing import generate_keys, load_private_key
from kiosk_link import wire
from tests.synthetic_part import flange

NAME = "flange"
GOOD_SEEDS = range(6)
SHIPPED_MODELS = REPO_ROOT / "models" / "int8"
DEVICE = "kiosk-far-01"


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory, settings: KioskSettings) -> Path:
    """The profile folder as enrolment wrote it (never changed: tests copy it into their own staging folders)."""
    folder = tmp_path_factory.mktemp("enrolled") / NAME
    extractor = PatchFeatureExtractor(settings.models_dir, 224, "standard")
    enrol_part(NAME, "Flange 80 mm", {f"good_{seed}.png": flange(seed) for seed in GOOD_SEEDS}, extractor, folder)
    return folder


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_keys(tmp_path_factory.mktemp("keys"))


def stage(enrolled: Path, staging: Path, folder: str = NAME, **changes: object) -> Path:
    """A copy of the enrolled profile in the backend's staging folder, its manifest entry changed by ``changes``."""
    target = staging / folder
    shutil.copytree(enrolled, target)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    manifest["models"][0] |= changes
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return target


def sign(tmp_path: Path, keys: tuple[Path, Path], sources: list[ArtifactSource]) -> tuple[ReleaseStore, Release]:
    """What the console's "create release" does with the chosen sources (``ConsoleService.create_release``)."""
    store = ReleaseStore(tmp_path / "releases")
    release = store.create(sources, load_private_key(keys[0]), "stable", "0.1.0", timedelta(days=1), chunk_size=64_000)
    return store, release


def kiosk(tmp_path: Path, keys: tuple[Path, Path]) -> KioskSettings:
    """Another kiosk: its own data folder, the shipped models (with the ``patch-features`` backbone), the key."""
    settings = load_settings(data_dir=tmp_path / "kiosk", device_id=DEVICE, updates={"public_key": keys[1]})
    assert settings.models_dir == SHIPPED_MODELS
    return settings


def deliver(settings: KioskSettings, store: ReleaseStore, release: Release) -> list[wire.UpdateStatusV1]:
    """The kiosk's updater offered ``release``, each chunk request answered by the backend's store, until the
    outcome; every report it made, in order."""
    updater = Updater(settings, "1.0.0")
    reports: list[wire.UpdateStatusV1] = []
    updater.on_report = reports.append
    offer = store.signed_bytes(release.manifest.release_id)
    assert offer is not None
    updater.routes[wire.device_topic(DEVICE, "release")](offer)
    chunk_route = updater.routes[wire.device_topic(DEVICE, "update/chunk")]
    for _ in range(1000):
        if reports and reports[-1].state in FINAL_STATES:
            return reports
        for topic, payload in updater.poll():
            if topic.endswith("/update/request"):
                chunk_route(store.chunk(wire.parse(payload, wire.UpdateRequestV1)).encode())
    raise AssertionError(f"no outcome: {[report.state for report in reports]}")


def test_the_staged_part_is_listed_as_a_model_and_the_fleet_cli_releases_it(
    enrolled: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    staging = tmp_path / "artifacts"
    stage(enrolled, staging)
    version = json.loads((enrolled / "manifest.json").read_text())["models"][0]["version"]
    assert re.fullmatch(r"\d{8}\.\d{6}", version)
    assert staged(staging) == [Staged(f"model/{NAME}/{NAME}.bank.npz", "model", NAME, version)]
    assert {name for name, _ in source(staging, f"model/{NAME}/{NAME}.bank.npz").members} == {
        "manifest.json",
        f"{NAME}.bank.npz",
    }
    db = ["--db", str(tmp_path / "fleet.db")]
    model = ["--model", str(staging / NAME / f"{NAME}.bank.npz")]
    made = CliRunner().invoke(fleet_main, [*db, "release", "create", "--key", str(keys[0]), *model, "--json"])
    assert made.exit_code == 0, made.output
    assert [(a["kind"], a["name"], a["version"]) for a in json.loads(made.output)["artifacts"]] == [
        ("model", NAME, version)
    ]


def test_a_released_part_installs_passes_its_self_test_and_inspects_at_the_other_kiosk(
    enrolled: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    staging = tmp_path / "artifacts"
    stage(enrolled, staging)
    store, release = sign(tmp_path, keys, [source(staging, item.key) for item in staged(staging)])
    settings = kiosk(tmp_path, keys)
    reports = deliver(settings, store, release)
    assert reports[-1].state == "installed", reports[-1]
    assert "installing" in [report.state for report in reports]
    assert installed_releases(settings.data_dir) == (release.manifest.release_id,)

    restarted = load_settings(data_dir=settings.data_dir, device_id=DEVICE)  # the kiosk now serves the release
    models = restarted.models_dir
    assert models == installed_link(settings.data_dir, "models")
    installed = load_manifest(models)
    assert set(load_manifest(SHIPPED_MODELS)) < set(installed)  # every shipped model kept, the part added
    for name in load_manifest(SHIPPED_MODELS):
        verified_model_path(models, name)
    assert (installed[NAME].model_extra or {}).get("kind") == "anomaly"
    assert enrolled_profiles(None, models) == [NAME]
    assert enrolled_profiles(restarted.data_dir, models) == [NAME]  # offered, though not enrolled at this kiosk
    part = open_profile(NAME, restarted.data_dir, models)
    assert part.classify(flange(200, "crack")).label == "defect"
    assert part.classify(flange(100)).label == "ok"


def test_a_part_enrolled_with_another_backbone_fails_its_self_test_and_rolls_back(
    enrolled: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    staging = tmp_path / "artifacts"
    stage(enrolled, staging, backbone_sha256="0" * 64)
    store, release = sign(tmp_path, keys, [source(staging, f"model/{NAME}/{NAME}.bank.npz")])
    settings = kiosk(tmp_path, keys)
    outcome = deliver(settings, store, release)[-1]
    assert (outcome.state, outcome.reason) == ("rolled_back", "self_test_failed"), outcome
    assert outcome.detail is not None and "enrol its photos again" in outcome.detail
    assert installed_releases(settings.data_dir) == ()  # back on the shipped models
    models = load_settings(data_dir=settings.data_dir, device_id=DEVICE).models_dir
    assert models.resolve() == SHIPPED_MODELS.resolve()
    assert not list((settings.data_dir / "updates" / "models" / "versions").glob("*"))
    assert enrolled_profiles(None, models) == []


def test_a_tampered_bank_is_not_signed_and_not_installed(
    enrolled: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    staging = tmp_path / "artifacts"
    bank = stage(enrolled, staging) / f"{NAME}.bank.npz"
    bank.write_bytes(bank.read_bytes()[:-10] + b"0" * 10)
    with pytest.raises(ValueError, match="does not match the sha256"):  # the console and the CLI refuse to sign it
        source(staging, f"model/{NAME}/{NAME}.bank.npz")
    made = CliRunner().invoke(
        fleet_main,
        ["--db", str(tmp_path / "fleet.db"), "release", "create", "--key", str(keys[0]), "--model", str(bank)],
    )
    assert made.exit_code == 1 and "does not match the sha256" in made.output

    # Signed anyway (an older backend, a file changed after packing): the kiosk refuses it before switching.
    entry = json.loads((bank.parent / "manifest.json").read_text())["models"][0]
    members = [(bank.name, bank.read_bytes()), ("manifest.json", json.dumps({"models": [entry]}).encode())]
    store, release = sign(tmp_path, keys, [ArtifactSource(NAME, "model", entry["version"], members)])
    settings = kiosk(tmp_path, keys)
    outcome = deliver(settings, store, release)[-1]
    assert (outcome.state, outcome.reason) == ("failed", "unpack_failed"), outcome
    assert outcome.detail is not None and "sha256" in outcome.detail
    assert installed_releases(settings.data_dir) == ()


@pytest.mark.parametrize("taken", ["amelia", "patch-features"])
def test_a_part_named_like_a_trained_model_does_not_replace_it(
    enrolled: Path, keys: tuple[Path, Path], tmp_path: Path, taken: str
) -> None:
    """A part released under a shipped model's name (enrolled at a kiosk that lacked it, or renamed on the
    backend) would pass its own self-test while the wake word, or the backbone, is gone: refused."""
    staging = tmp_path / "artifacts"
    stage(enrolled, staging, name=taken)
    store, release = sign(tmp_path, keys, [model_source(staging / NAME / f"{NAME}.bank.npz")])
    settings = kiosk(tmp_path, keys)
    outcome = deliver(settings, store, release)[-1]
    assert (outcome.state, outcome.reason) == ("failed", "unpack_failed"), outcome
    assert outcome.detail is not None and "another name" in outcome.detail
    assert installed_releases(settings.data_dir) == ()


def test_a_kiosk_with_many_released_parts_still_reports_its_versions() -> None:
    versions = {f"model:part-{index}": "20260101.000000" for index in range(40)} | {"kiosk": "1.2.3"}
    carried = wire_versions(versions)
    assert len(carried) == MAX_VERSIONS and next(iter(carried)) == "kiosk"
    assert carried["model:part-0"] == "20260101.000000" and "model:part-39" not in carried
    wire.StatusV1(state="online", versions=carried)  # the wire's limit: more would be refused
    with pytest.raises(ValueError):
        wire.StatusV1(state="online", versions=versions)
