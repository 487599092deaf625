"""``fleet keys generate`` and ``fleet release create|list``: the fleet manager's side of signed updates.

A release is only stored here; ``fleet rollout start`` offers it (``fleet.rollouts``), never this module."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click

from fleet.releases import ArtifactSource, Release, ReleaseStore, default_releases_dir, model_source, pack_source
from fleet.signing import generate_keys, load_private_key
from kiosk_link import wire


@click.group()
def keys() -> None:
    """The release signing key."""


@keys.command("generate")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def generate(out_dir: Path) -> None:
    """Create the Ed25519 key pair: the private key (mode 0600) stays here, the .pub goes to kiosks."""
    try:
        private_path, public_path = generate_keys(out_dir)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"private key {private_path} (keep it here)\npublic key  {public_path} (provision it to kiosks)")


@click.group()
@click.option(
    "--releases",
    "releases_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where releases are stored (FLEET_RELEASES; default: 'releases' beside --db).",
)
@click.pass_context
def release(ctx: click.Context, releases_dir: Path | None) -> None:
    """Signed releases of models and domain packs."""
    ctx.obj["releases"] = ReleaseStore(releases_dir or default_releases_dir(ctx.obj["db_path"]))


def _row(release: Release) -> dict[str, object]:
    manifest = release.manifest
    return {
        "release_id": manifest.release_id,
        "sequence": manifest.sequence,
        "channel": manifest.channel,
        "created_at": manifest.created_at.isoformat(),
        "expires_at": manifest.expires_at.isoformat(),
        "min_kiosk_version": manifest.min_kiosk_version,
        "artifacts": [a.model_dump(include={"name", "kind", "version", "size", "sha256"}) for a in manifest.artifacts],
    }


@release.command("create")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
@click.option("--channel", default="stable", show_default=True)
@click.option(
    "--model",
    "models",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A model file listed in the manifest.json beside it (a part enrolled with `kiosk vision enrol --out DIR`:"
    " DIR/NAME.bank.npz); repeatable.",
)
@click.option(
    "--pack",
    "pack_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A domain pack folder.",
)
@click.option("--min-kiosk-version", default="0.1.0", show_default=True)
@click.option("--valid-days", default=30.0, show_default=True, help="The release expires after this.")
@click.option("--id", "release_id", default=None, help="Release id (default: CHANNEL-SEQUENCE).")
@click.option("--chunk-size", default=wire.MAX_CHUNK_BYTES, show_default=True, help="Bytes per transfer chunk.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def create(
    ctx: click.Context,
    key_path: Path,
    channel: str,
    models: tuple[Path, ...],
    pack_dir: Path | None,
    min_kiosk_version: str,
    valid_days: float,
    release_id: str | None,
    chunk_size: int,
    as_json: bool,
) -> None:
    """Pack, sign and store a release; no kiosk is offered it until `fleet rollout start` (then `fleet serve` does,
    device by device, and serves its chunks)."""
    if not models and pack_dir is None:
        raise click.UsageError("give at least one --model or --pack")
    store: ReleaseStore = ctx.obj["releases"]
    try:
        sources: list[ArtifactSource] = [model_source(path) for path in models]
        if pack_dir is not None:
            sources.append(pack_source(pack_dir))
        created = store.create(
            sources,
            load_private_key(key_path),
            channel,
            min_kiosk_version,
            timedelta(days=valid_days),
            release_id=release_id,
            chunk_size=chunk_size,
        )
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from None
    _show([created], as_json)
    if not as_json:
        click.echo(f"offered to no kiosk yet: `fleet rollout start {created.manifest.release_id}` does")


@release.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def list_releases(ctx: click.Context, as_json: bool) -> None:
    """Stored releases, oldest first."""
    _show(ctx.obj["releases"].releases(), as_json)


def _show(releases: list[Release], as_json: bool) -> None:
    for found in releases:
        row = _row(found)
        if as_json:
            click.echo(json.dumps(row))
            continue
        manifest = found.manifest
        artifacts = ", ".join(f"{a.kind} {a.name} {a.version} ({a.size} B)" for a in manifest.artifacts)
        expires = manifest.expires_at.isoformat(timespec="seconds")
        click.echo(
            f"{manifest.release_id:<20} #{manifest.sequence:<4} {manifest.channel:<10} expires {expires}  {artifacts}"
        )
