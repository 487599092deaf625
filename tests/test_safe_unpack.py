"""Unpacking a signed artifact that is hostile: it writes nothing outside its folder, fills no disk, and a refused
(or failed) unpack leaves neither its version folder nor a partial one behind (issue 18, "Packages").

Most attacks go through the installer's real path (``Installer.stage``, default limits), so each fails on an
installer that trusted ``extractall(filter="data")``; the limits themselves are also tried directly, set low.
One good release and one bomb go all the way through the updater (verify, unpack, switch, self-test, report),
without a broker: its routes are fed the signed release and the store's chunks.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_app.config import REPO_ROOT, KioskSettings, UpdatesConfig, installed_link, load_settings
from firmware_app.inference.manifest import load_manifest
from firmware_app.inference.probe import probe_model
from firmware_app.packs import load_pack
from firmware_app.sync.install import Installer
from firmware_app.sync.unpack import MAX_MEMBERS, Limits, UnpackRefused, unpack
from firmware_app.sync.updates import FINAL_STATES, Updater
from fleet.releases import RELEASE_FILE, Release, ReleaseStore, describe, model_source, pack_source
from fleet.signing import generate_keys, load_private_key, sign_release
from kiosk_link import wire
from kiosk_link.trust import UpdateRefused

BANK = REPO_ROOT / "packs" / "bank"
AMELIA = REPO_ROOT / "models" / "int8" / "amelia.int8.onnx"
RELEASE_ID = "r-evil"
Kind = Literal["model", "pack"]


@dataclass(frozen=True)
class Member:
    """A tar member to write: a file holding ``data``, or a member of another ``kind`` (a link to ``link``)."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""
    pax: dict[str, str] = field(default_factory=dict)


def tar_of(members: list[Member], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type, info.linkname, info.size, info.pax_headers = (
                member.kind,
                member.link,
                len(member.data),
                member.pax,
            )
            tar.addfile(info, io.BytesIO(member.data))
    return buffer.getvalue()


class Zeros(io.RawIOBase):
    """``size`` zero bytes, made as they are read: a bomb's content never sits in memory."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size

    def read(self, size: int = -1, /) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


def gzip_bomb(unpacked: int) -> bytes:
    """A gzip tar of one member of ``unpacked`` zero bytes (300 MB give 1.4 MB), built streaming."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        info = tarfile.TarInfo("zeros.bin")
        info.size = unpacked
        tar.addfile(info, Zeros(unpacked))
    return buffer.getvalue()


def cve_2025_4517(dest: Path) -> list[Member]:
    """CPython's reproduction of CVE-2025-4517, sized for ``dest``: nested folders and symlinks whose expansion
    passes PATH_MAX, so ``realpath`` stops checking, then ``escape`` -> ``dest``'s parent, and a file through it."""
    steps = "abcdefghijklmnop"
    component = "d" * ((os.pathconf("/", "PC_PATH_MAX") - len(str(dest)) - 1) // (len(steps) + 1))
    members, path = [], ""
    for step in steps:
        members += [
            Member(os.path.join(path, component), kind=tarfile.DIRTYPE),
            Member(os.path.join(path, step), kind=tarfile.SYMTYPE, link=component),
        ]
        path = os.path.join(path, component)
    linkpath = os.path.join(*steps, "l" * 254)
    return [
        *members,
        Member(linkpath, kind=tarfile.SYMTYPE, link=os.path.join(*[".."] * len(steps))),
        Member("escape", kind=tarfile.SYMTYPE, link=os.path.join(linkpath, "..")),
        Member("escape/newfile", b"written outside the version folder"),
    ]


def manifest_of(kind: Kind, data: bytes, release_id: str = RELEASE_ID, sequence: int = 1) -> wire.ReleaseManifestV1:
    now = datetime.now(UTC).replace(microsecond=0)
    return wire.ReleaseManifestV1(
        release_id=release_id,
        sequence=sequence,
        channel="stable",
        created_at=now,
        expires_at=now + timedelta(days=1),
        min_kiosk_version="0.1",
        artifacts=[describe("evil", kind, "6.6.6", data, wire.MAX_CHUNK_BYTES)],
    )


def stage_refused(tmp_path: Path, data: bytes, kind: Kind = "pack") -> str:
    """Stage an artifact of ``kind`` holding ``data`` through the installer; the refusal's detail. Asserts that
    nothing is left under the version folders: neither the release's folder nor a partial one."""
    settings = load_settings(data_dir=tmp_path / "kiosk")
    (tmp_path / "evil.tar").write_bytes(data)
    installer = Installer(settings.data_dir, settings.models_dir, settings.pack_dir)
    with pytest.raises(UpdateRefused) as refused:
        installer.stage(manifest_of(kind, data), {"evil": tmp_path / "evil.tar"})
    assert refused.value.reason == "unpack_failed"
    for folder in ("models", "packs"):
        versions = settings.data_dir / "updates" / folder / "versions"
        assert not versions.exists() or list(versions.iterdir()) == [], list(versions.iterdir())
    return refused.value.detail


SPARSE = {"GNU.sparse.map": "0,0", "GNU.sparse.size": str(2**31)}


@pytest.mark.parametrize(
    ("member", "refusal"),
    [
        (Member("../x", b"up"), "'../x' points outside"),
        (Member("intents/../../x", b"up"), "points outside"),
        (Member("/tmp/kiosk-safe-unpack-abs", b"abs"), "points outside"),
        (Member("link", kind=tarfile.SYMTYPE, link="/tmp"), "'link' is a symlink"),
        (Member("inside", kind=tarfile.SYMTYPE, link="pack.yaml"), "'inside' is a symlink"),
        (Member("hard", kind=tarfile.LNKTYPE, link="/etc/hostname"), "'hard' is a hard link"),
        (Member("fifo", kind=tarfile.FIFOTYPE), "'fifo' is a fifo"),
        (Member("null", kind=tarfile.CHRTYPE), "'null' is a device"),
        (Member("disk", kind=tarfile.BLKTYPE), "'disk' is a device"),
        # A pax sparse file: its holes would be written without coming out of the (counted) stream.
        (Member("holes", pax=SPARSE), "'holes' is a sparse file"),
        (Member("pack.yaml", b"again"), "'pack.yaml' is in the archive twice"),
    ],
    ids=lambda value: None if isinstance(value, str) else value.name,
)
def test_a_member_that_is_not_a_plain_file_or_folder_inside_is_refused_and_nothing_is_left(
    tmp_path: Path, member: Member, refusal: str
) -> None:
    detail = stage_refused(tmp_path, tar_of([Member("pack.yaml", b"id: evil\n"), member]))
    assert detail.startswith("UnpackRefused") and refusal in detail, detail
    assert not Path("/tmp/kiosk-safe-unpack-abs").exists()


def test_a_model_artifact_with_a_link_is_refused_and_its_models_folder_removed(tmp_path: Path) -> None:
    link = Member("manifest.json", kind=tarfile.SYMTYPE, link="/etc/passwd")
    assert "is a symlink" in stage_refused(tmp_path, tar_of([link]), kind="model")


def test_cve_2025_4517_a_symlink_chain_past_path_max_writes_nothing_outside(tmp_path: Path) -> None:
    versions = tmp_path / "kiosk" / "updates" / "packs" / "versions"
    detail = stage_refused(tmp_path, tar_of(cve_2025_4517(versions / RELEASE_ID)))
    assert "is a symlink" in detail, detail
    assert not list(tmp_path.rglob("newfile"))


def test_a_gzip_bomb_is_stopped_at_the_cap_while_it_streams(tmp_path: Path) -> None:
    bomb = gzip_bomb(300 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024
    detail = stage_refused(tmp_path, bomb)
    assert f"unpacks to more than {Limits.for_artifact(len(bomb)).max_bytes} bytes" in detail, detail


def test_more_members_than_the_cap_are_refused(tmp_path: Path) -> None:
    members = [Member(f"f{index}") for index in range(MAX_MEMBERS + 1)]
    assert f"more than {MAX_MEMBERS} members" in stage_refused(tmp_path, tar_of(members, tarfile.USTAR_FORMAT))


def test_the_limits_hold_when_set_low_headers_counted_too(tmp_path: Path) -> None:
    """Directly, with small limits: a member count, file bytes, and a long-name header (tarfile would read all
    4 MB of it into memory) are each stopped by the counted stream; each time nothing is left."""
    archive, dest = tmp_path / "a.tar", tmp_path / "out" / "dest"
    cases = [
        ([Member(f"f{index}") for index in range(4)], Limits(max_bytes=10**6, max_members=3), "more than 3 members"),
        ([Member("big", bytes(200_000))], Limits(max_bytes=100_000), "more than 100000 bytes"),
        ([Member("n" * 4_000_000)], Limits(max_bytes=1_000_000), "more than 1000000 bytes"),
    ]
    for members, limits, refusal in cases:
        archive.write_bytes(tar_of(members, tarfile.GNU_FORMAT))
        with pytest.raises(UnpackRefused, match=refusal):
            unpack(archive, dest, limits)
        assert list((tmp_path / "out").iterdir()) == []


def test_what_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    assert "not a readable tar" in stage_refused(tmp_path, b"this is no tar" * 100)
    assert "not a readable tar" in stage_refused(tmp_path, gzip_bomb(10**6)[:-100])  # a gzip cut short


def test_a_well_formed_pack_unpacks_as_built_from_a_plain_tar_or_a_gzip(tmp_path: Path) -> None:
    pack = pack_source(BANK)
    plain = tar_of([Member(name, data) for name, data in pack.members])
    for name, data in [("plain", plain), ("gzip", gzip.compress(plain))]:
        (tmp_path / f"{name}.tar").write_bytes(data)
        dest = unpack(tmp_path / f"{name}.tar", tmp_path / name, Limits.for_artifact(len(data)))
        unpacked = {path.relative_to(dest).as_posix(): path.read_bytes() for path in dest.rglob("*") if path.is_file()}
        assert unpacked == dict(pack.members)
        assert load_pack(dest).manifest.id == "bank"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gzip", "gzip.tar", "plain", "plain.tar"]


# The updater end to end, without a broker.


@pytest.fixture
def key_and_settings(tmp_path: Path) -> tuple[Ed25519PrivateKey, KioskSettings]:
    private_path, public_path = generate_keys(tmp_path / "keys")
    updates = UpdatesConfig(public_key=public_path)
    return load_private_key(private_path), load_settings(data_dir=tmp_path / "kiosk", updates=updates)


def deliver(updater: Updater, store: ReleaseStore, found: Release) -> list[wire.UpdateStatusV1]:
    """What the link does: hand the updater the signed release, then the store's answer to each request it
    publishes, until it reports an outcome; every report it made."""
    reports: list[wire.UpdateStatusV1] = []
    updater.on_report = reports.append
    release_topic, _, chunk_topic = updater.topics
    updater.routes[release_topic](found.signed.encode())
    for _ in range(1000):
        if any(report.state in FINAL_STATES for report in reports):
            return reports
        for topic, payload in updater.poll():
            if topic.endswith("/update/request"):
                updater.routes[chunk_topic](store.chunk(wire.parse(payload, wire.UpdateRequestV1)).encode())
    raise AssertionError(f"no outcome: {reports}")


def test_the_updater_installs_a_real_pack_and_model_and_reports_a_bomb_as_failed(
    tmp_path: Path, key_and_settings: tuple[Ed25519PrivateKey, KioskSettings]
) -> None:
    key, settings = key_and_settings
    store = ReleaseStore(tmp_path / "releases")
    updater = Updater(settings, "1.0.0")
    good = store.create([model_source(AMELIA), pack_source(BANK)], key, "stable", "0.1", timedelta(days=1))
    outcome = deliver(updater, store, good)[-1]
    assert (outcome.state, outcome.reason) == ("installed", None), outcome
    probe_model(installed_link(settings.data_dir, "models"), "amelia")
    assert load_manifest(installed_link(settings.data_dir, "models"))["amelia"].version
    assert load_pack(installed_link(settings.data_dir, "packs")).manifest.id == "bank"

    bomb = gzip_bomb(300 * 1024 * 1024)
    manifest = manifest_of("pack", bomb, release_id="r-bomb", sequence=good.manifest.sequence + 1)
    (store.root / "r-bomb").mkdir()
    (store.root / "r-bomb" / "evil.tar").write_bytes(bomb)
    signed = sign_release(manifest, key)
    (store.root / "r-bomb" / RELEASE_FILE).write_bytes(signed.encode())
    outcome = deliver(updater, store, Release(signed, manifest))[-1]
    assert (outcome.state, outcome.reason) == ("failed", "unpack_failed"), outcome
    assert outcome.detail is not None and "unpacks to more than" in outcome.detail
    packs = settings.data_dir / "updates" / "packs" / "versions"
    assert sorted(path.name for path in packs.iterdir()) == [good.manifest.release_id]
    assert load_pack(installed_link(settings.data_dir, "packs")).manifest.id == "bank"
