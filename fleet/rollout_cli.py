"""``fleet rollout start|status|pause|resume|abort`` and ``fleet group add|remove|list``.

These only write the fleet database: the rollout engine inside ``fleet serve`` offers, withdraws and advances
(within its interval, 2 s), so the commands work whether or not a backend is running and never race it.
"""

from __future__ import annotations

import json
from typing import Any

import click

from fleet.cli_store import open_store
from fleet.releases import ReleaseStore, default_releases_dir
from fleet.rollouts import RolloutError, change_rollout, device_assignments, rollouts, set_groups, start_rollout
from fleet.store import FleetStore


def _open(ctx: click.Context) -> FleetStore:
    """The database, open until the command ends."""
    return ctx.with_resource(open_store(ctx))


def _percent(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """``10%`` or ``10``."""
    try:
        number = float(value.removesuffix("%"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a percentage (10%)") from None
    if not 0 <= number <= 100:
        raise click.BadParameter(f"{value!r} is not between 0% and 100%")
    return number


@click.group()
def rollout() -> None:
    """Offer a release to a canary share of a channel first, then to the rest; halt on failures."""


@rollout.command("start")
@click.argument("release_id")
@click.option("--channel", default=None, help="Must be the release's own (the default): kiosks check it.")
@click.option("--group", default=None, help="Only the devices of this group (`fleet group add`).")
@click.option("--canary", default="10%", show_default=True, callback=_percent, help="Offered first to this share.")
@click.option(
    "--max-failure-rate",
    default="20%",
    show_default=True,
    callback=_percent,
    help="Halt when more of the finished devices failed or rolled back.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def start(
    ctx: click.Context,
    release_id: str,
    channel: str | None,
    group: str | None,
    canary: float,
    max_failure_rate: float,
    as_json: bool,
) -> None:
    """Start a rollout of RELEASE_ID; `fleet serve` offers it to the canary devices at its next step."""
    manifest = ReleaseStore(default_releases_dir(ctx.obj["db_path"])).manifest(release_id)
    if manifest is None:
        raise click.ClickException(f"no release {release_id!r} (see `fleet release list`)")
    if channel is not None and channel != manifest.channel:
        raise click.ClickException(f"{release_id} is signed for channel {manifest.channel!r}, not {channel!r}")
    store = _open(ctx)
    try:
        rollout_id = start_rollout(store, manifest, group, canary, max_failure_rate)
    except RolloutError as exc:
        raise click.ClickException(str(exc)) from None
    _show(rollouts(store, rollout_id), as_json, with_devices=False)


@rollout.command("status")
@click.argument("rollout_id", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rollout, with its devices.")
@click.pass_context
def status(ctx: click.Context, rollout_id: int | None, as_json: bool) -> None:
    """Every rollout (or ROLLOUT_ID with each device: pending, offered, downloading x%, installed, ...)."""
    found = rollouts(_open(ctx), rollout_id)
    if rollout_id is not None and not found:
        raise click.ClickException(f"no rollout {rollout_id}")
    _show(found, as_json, with_devices=rollout_id is not None)


def _change(action: str, effect: str) -> click.Command:
    @click.argument("rollout_id", type=int)
    @click.pass_context
    def command(ctx: click.Context, rollout_id: int) -> None:
        try:
            state = change_rollout(_open(ctx), rollout_id, action)
        except RolloutError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"rollout {rollout_id} {state}: {effect}")

    command.__doc__ = f"{action.capitalize()} ROLLOUT_ID: {effect}."
    return rollout.command(action)(command)


_change("pause", "nothing new is offered; offers made stand")
_change("resume", "offering goes on")
_change("abort", "offers not taken are withdrawn; devices that installed the release keep it")


def _show(found: list[dict[str, Any]], as_json: bool, with_devices: bool) -> None:
    for row in found:
        if as_json:
            click.echo(json.dumps(row))
            continue
        target = row["channel"] + (f" group {row['group_name']}" if row["group_name"] else "")
        counts = ", ".join(f"{count} {state}" for state, count in sorted(row["counts"].items()))
        click.echo(
            f"rollout {row['id']}  {row['release_id']} -> {target}  {row['state']} ({row['phase']} phase)"
            f"  canary {row['canary_percent']:g}%  halts above {row['max_failure_percent']:g}% failed  {counts}"
        )
        if row["reason"]:
            click.echo(f"  reason: {row['reason']}")
        for device in row["devices"] if with_devices else []:
            click.echo("  " + _device_line(device))


def _device_line(device: dict[str, Any]) -> str:
    state = device["state"]
    if state == "downloading" and device["progress"] is not None:
        state = f"downloading {device['progress']}%"
    why = ": ".join(filter(None, (device["reason"], device["detail"])))
    canary = "canary" if device["canary"] else ""
    return f"{device['device_id']:<20} {canary:<6} {state:<16} {(device['updated_at'] or '-')[:19]:<19}  {why}".rstrip()


@click.group("group")
def group() -> None:
    """Device groups, which `fleet rollout start --group` targets."""


@group.command("add")
@click.argument("group_name")
@click.argument("devices", nargs=-1, required=True)
@click.pass_context
def add(ctx: click.Context, group_name: str, devices: tuple[str, ...]) -> None:
    """Put DEVICES in GROUP_NAME."""
    _set_groups(ctx, group_name, devices, True)


@group.command("remove")
@click.argument("group_name")
@click.argument("devices", nargs=-1, required=True)
@click.pass_context
def remove(ctx: click.Context, group_name: str, devices: tuple[str, ...]) -> None:
    """Take DEVICES out of GROUP_NAME."""
    _set_groups(ctx, group_name, devices, False)


def _set_groups(ctx: click.Context, group_name: str, devices: tuple[str, ...], member: bool) -> None:
    try:
        set_groups(_open(ctx), group_name, devices, member)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"{group_name}: {len(devices)} device(s) {'added' if member else 'removed'}")


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per device.")
@click.pass_context
def list_groups(ctx: click.Context, as_json: bool) -> None:
    """Every device with the channel its kiosk reports and its groups."""
    for row in device_assignments(_open(ctx)):
        groups = ", ".join(row["groups"]) or "-"
        text = f"{row['device_id']:<20} channel {row['channel'] or '-':<12} groups {groups}"
        click.echo(json.dumps(row) if as_json else text)
