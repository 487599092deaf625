"""``fleet ca init|issue`` and ``fleet broker-config``: the fleet manager's side of enrolling a kiosk.

The CA folder holds the CA key (mode 0600, in a 0700 folder): keep it on the fleet manager's machine, not on
the broker, which gets only what ``broker-config`` copies out of it.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from cryptography import x509

from fleet.broker_config import BACKEND_BIND, MQTTS_PORT, write_broker_config
from kiosk_link import pki

_CA_DIR = click.option(
    "--ca-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FLEET_CA",
    default="fleet-ca",
    show_default=True,
    help="The CA folder (FLEET_CA).",
)


@click.group()
def ca() -> None:
    """The fleet's certificate authority: broker, backend and device certificates."""


def _host_names(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """Every name given, whether ``--host`` was repeated or one value lists several ("a.example,10.0.0.5")."""
    names: list[str] = []
    for value in values:
        for name in re.split(r"[,\s]+", value):
            if name and name not in names:
                names.append(name)
    if not names:
        raise click.BadParameter("give the broker's DNS name or IP address", ctx, param)
    return tuple(names)


@ca.command("init")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="New CA folder.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    required=True,
    callback=_host_names,
    help="The broker's DNS names or IP addresses, each one the kiosks may connect to: repeat --host or separate "
    "them with commas (--host mqtt.example.com,10.0.0.5).",
)
@click.option("--days", default=pki.CA_DAYS, show_default=True, help="Validity of the CA certificate.")
def init(out: Path, hosts: tuple[str, ...], days: int) -> None:
    """Create the CA, the broker's server certificate for HOSTs and the backend's client certificate."""
    try:
        pki.FleetCa.init(out, hosts, days)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"fleet CA in {out}: {pki.CA_CERT} (give it to kiosks), {pki.CA_KEY} (keep it here, 0600)")
    click.echo(
        f"broker: {pki.SERVER_CERT} for {', '.join(hosts)}; backend: {pki.BACKEND_CERT} (CN {pki.BACKEND_IDENTITY})"
    )


@ca.command("issue")
@_CA_DIR
@click.option("--csr", "csr_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: the CSR's name with .pem.")
@click.option("--days", default=pki.DEVICE_DAYS, show_default=True, help="Validity of the device certificate.")
def issue(ca_dir: Path, csr_path: Path, out: Path | None, days: int) -> None:
    """Sign a kiosk's certificate request (``kiosk-provision init`` writes it); its CN is the device id."""
    try:
        authority = pki.FleetCa.load(ca_dir)
        cert = authority.issue(x509.load_pem_x509_csr(csr_path.read_bytes()), days)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    target = out or csr_path.with_suffix(".pem")
    target.write_bytes(pki.cert_pem(cert))
    device_id = pki.common_name(cert)
    click.echo(f"{target}: {device_id}, valid to {cert.not_valid_after_utc:%Y-%m-%d}; on the kiosk:")
    click.echo(f"  kiosk-provision install-cert {target.name}")


@click.command("broker-config")
@_CA_DIR
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="The broker's folder.")
@click.option("--port", default=MQTTS_PORT, show_default=True, help="The TLS listener's port.")
@click.option("--bind", default=None, help="Listen on this address only (default: every interface).")
@click.option("--backend-port", type=int, default=None, help="The backend's own TLS listener (default: --port + 1).")
@click.option(
    "--backend-bind",
    default=BACKEND_BIND,
    show_default=True,
    help="The backend's listener address: keep it on loopback or a network only the backend reaches.",
)
def broker_config(
    ca_dir: Path, out: Path, port: int, bind: str | None, backend_port: int | None, backend_bind: str
) -> None:
    """Write Mosquitto's config, ACL and TLS files: client certificates only, each device its own topics under
    its own client id; the backend's processes connect on a listener of their own."""
    if not (ca_dir / pki.SERVER_CERT).is_file():
        raise click.ClickException(f"no broker certificate in {ca_dir} (`fleet ca init` makes it)")
    config = write_broker_config(ca_dir, out, port, bind, backend_port, backend_bind)
    click.echo(f"{config}: run `mosquitto -c {config}`")
