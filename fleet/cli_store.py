"""How every ``fleet`` command opens the backend's database, in a module of its own so that ``fleet.cli`` and the
command groups it gathers (``fleet.rollout_cli``) share it without importing each other."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from fleet.database import is_url
from fleet.store import FleetStore


@contextmanager
def open_store(ctx: click.Context, create: bool = False) -> Iterator[FleetStore]:
    """The database; only ``serve`` creates one (a report on a mistyped path should say so, not show nothing)."""
    path: str | Path = ctx.obj["db_path"]
    if not create and not is_url(path) and not Path(path).is_file():
        raise click.ClickException(f"no fleet database at {path} (`fleet serve` creates it; see --db)")
    store = FleetStore(path)
    try:
        yield store
    finally:
        store.close()
