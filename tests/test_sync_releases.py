"""Releases without a broker: keys, `fleet release create|list`, deterministic artifacts, what the kiosk accepts
from the fleet's signature, chunk answers, the update wire models, and unpacking that cannot escape its folder."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from firmware_app.config import REPO_ROOT, load_settings
from firmware_app.sync.install import Installer
from fleet.cli import main
from fleet.releases import ReleaseStore, describe, deterministic_tar, pack_source
from fleet.signing import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME, generate_keys, load_private_key
from kiosk_link import wire
from kiosk_link.trust import UpdateRefused, load_public_key, verified_manifest

AMELIA = REPO_ROOT / "models" / "int8" / "amelia.int8.onnx"
BANK = REPO_ROOT / "packs" / "bank"


def test_fleet_keys_and_releases_for_people_and_for_scripts(tmp_path: Path) -> None:
    runner = CliRunner()
    keys = runner.invoke(main, ["keys", "generate", "--out", str(tmp_path / "keys")])
    assert keys.exit_code == 0, keys.output
    assert stat.S_IMODE((tmp_path / "keys" / PRIVATE_KEY_NAME).stat().st_mode) == 0o600
    again = runner.invoke(main, ["keys", "generate", "--out", str(tmp_path / "keys")])
    assert again.exit_code == 1 and "exists" in again.output  # a key kiosks trust is never replaced

    db = ["--db", str(tmp_path / "fleet.db")]
    key = ["--key", str(tmp_path / "keys" / PRIVATE_KEY_NAME)]
    created = runner.invoke(
        main, [*db, "release", "create", *key, "--model", str(AMELIA), "--pack", str(BANK), "--json"]
    )
    assert created.exit_code == 0, created.output
    row = json.loads(created.output)
    assert (row["release_id"], row["sequence"], row["channel"]) == ("stable-1", 1, "stable")
    assert [(a["kind"], a["name"]) for a in row["artifacts"]] == [("model", "amelia"), ("pack", "bank")]
    beta = runner.invoke(main, [*db, "release", "create", *key, "--channel", "beta", "--pack", str(BANK)])
    assert beta.exit_code == 0 and "beta-2" in beta.output  # sequences grow across channels

    listed = runner.invoke(main, [*db, "release", "list", "--json"])
    assert [json.loads(line)["release_id"] for line in listed.output.splitlines()] == ["stable-1", "beta-2"]
    text = runner.invoke(main, [*db, "release", "list"]).output.splitlines()
    assert text[0].split()[:3] == ["stable-1", "#1", "stable"] and "pack bank 1.0.0" in text[1]
    assert runner.invoke(main, [*db, "release", "create", *key]).exit_code == 2  # nothing to release

    # What the fleet signed, the kiosk verifies with the public half.
    signed = (tmp_path / "releases" / "stable-1" / "release.json").read_bytes()
    manifest = verified_manifest(signed, load_public_key(tmp_path / "keys" / PUBLIC_KEY_NAME))
    assert manifest.release_id == "stable-1"


def test_artifacts_are_deterministic_and_chunks_are_served_or_refused(tmp_path: Path) -> None:
    pack = pack_source(BANK)
    assert deterministic_tar(pack.members) == deterministic_tar(reversed(pack.members))
    data = deterministic_tar(pack.members)
    artifact = describe("bank", "pack", "1.0.0", data, 4096)
    assert artifact.size == len(data) and len(artifact.chunks) == -(-len(data) // 4096)

    private_path, _ = generate_keys(tmp_path / "keys")
    store = ReleaseStore(tmp_path / "releases")
    release = store.create([pack], load_private_key(private_path), "stable", "0.1.0", timedelta(days=1))

    def ask(
        release_id: str = release.manifest.release_id, artifact: str = "bank", index: int = 0
    ) -> wire.UpdateChunkV1:
        return store.chunk(wire.UpdateRequestV1(release_id=release_id, artifact=artifact, index=index))

    assert ask().data is not None and ask().error is None
    assert ask(release_id="nope").error == "unknown_release"
    assert ask(artifact="other").error == "unknown_artifact"
    assert ask(index=len(release.manifest.artifacts[0].chunks)).error == "bad_index"


def test_update_wire_models_refuse_what_cannot_be_right() -> None:
    assert wire.parse_device_topic("kiosk/v1/k-1/update/request") == ("k-1", "update/request")
    for topic in ("kiosk/v1/k-1/update", "kiosk/v1/k-1/update/chunk/x", "kiosk/v1/k/1/update/status"):
        with pytest.raises(wire.WireError):
            wire.parse_device_topic(topic)
    with pytest.raises(ValidationError):  # both an answer and an error
        wire.UpdateChunkV1(release_id="r", artifact="a", index=0, data="AA==", error="bad_index")
    with pytest.raises(ValidationError):  # chunk hashes that do not cover the size
        wire.ArtifactV1(name="a", kind="model", version="1", size=10, sha256="0" * 64, chunk_size=4, chunks=["0" * 64])
    bad_name = b'{"schema": "kiosk.update_request/1", "release_id": "../x", "artifact": "a", "index": 0}'
    with pytest.raises(wire.WireError, match="invalid"):
        wire.parse(bad_name, wire.UpdateRequestV1)


def test_an_artifact_cannot_write_outside_its_version_folder(tmp_path: Path) -> None:
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped.yaml")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    tar_path = tmp_path / "bank.tar"
    tar_path.write_bytes(evil.getvalue())
    artifact = describe("bank", "pack", "6.6.6", evil.getvalue(), 4096)
    manifest = wire.ReleaseManifestV1(
        release_id="evil",
        sequence=1,
        channel="stable",
        created_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        expires_at="2099-01-01T00:00:00Z",  # type: ignore[arg-type]
        min_kiosk_version="0.1",
        artifacts=[artifact],
    )
    settings = load_settings(data_dir=tmp_path / "kiosk")
    with pytest.raises(UpdateRefused) as refused:
        Installer(settings.data_dir, settings.models_dir, settings.pack_dir).stage(manifest, {"bank": tar_path})
    assert refused.value.reason == "unpack_failed"
    assert not list(tmp_path.rglob("escaped.yaml"))
