"""The backend's broker identity: the ``--ca-file/--cert-file/--key-file`` options every ``fleet`` command that
connects to the broker takes (or ``FLEET_MQTT_CA``/``FLEET_MQTT_CERT``/``FLEET_MQTT_KEY``, so a service unit sets
them once), turned into the one TLS context its MQTT clients share.

``fleet ca init`` writes the backend's certificate (CN ``fleet-backend``, which the broker's ACL knows); without
the options the commands speak plain MQTT, for a test or development broker.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from kiosk_link.tls import client_context

F = TypeVar("F", bound=Callable[..., Any])
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def tls_options(command: F) -> F:
    """Add the three options to ``command`` and hand it ``tls``: an ``ssl.SSLContext``, or None for plain MQTT."""

    @click.option("--ca-file", type=_FILE, envvar="FLEET_MQTT_CA", help="The fleet CA certificate (FLEET_MQTT_CA).")
    @click.option(
        "--cert-file", type=_FILE, envvar="FLEET_MQTT_CERT", help="The backend's certificate (FLEET_MQTT_CERT)."
    )
    @click.option("--key-file", type=_FILE, envvar="FLEET_MQTT_KEY", help="The backend's key (FLEET_MQTT_KEY).")
    @wraps(command)
    def with_tls(*args: Any, ca_file: Path | None, cert_file: Path | None, key_file: Path | None, **kwargs: Any) -> Any:
        if len({ca_file is None, cert_file is None, key_file is None}) > 1:
            raise click.UsageError("--ca-file, --cert-file and --key-file go together: all three or none")
        try:
            tls: ssl.SSLContext | None = client_context(ca_file, cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise click.ClickException(f"cannot use the broker certificate: {exc}") from None
        return command(*args, tls=tls, **kwargs)

    return with_tls  # type: ignore[return-value]
