"""``kiosk-provision``: enrol this device in the fleet, install its certificate, rotate its key, set its staff PIN.

With the fleet CA at hand (``--ca-dir``: a bench, a test, a fleet manager enrolling devices on their own
machine) one command does everything; otherwise ``init`` writes a request for ``fleet ca issue`` and
``install-cert`` finishes once the certificate comes back. Every device gets its own staff PIN (given, or
generated and printed once), stored only as a salted scrypt hash in its kiosk.toml.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import click
from cryptography import x509

from kiosk_link import pki
from kiosk_link.pin_hash import PIN_MAX_DIGITS, PIN_MIN_DIGITS, check_new_pin, generate_pin, hash_pin
from kiosk_link.secret_store import Backend
from provisioning.identity import Device, ProvisionError
from provisioning.layout import KIOSK_USER, Layout, Owner

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_CA_DIR = click.option("--ca-dir", type=_DIR, help="The fleet CA folder: sign here and now (bench or test setup).")
_DAYS = click.option("--days", default=pki.DEVICE_DAYS, show_default=True, help="Certificate validity with --ca-dir.")
_STAFF_PIN = click.option(
    "--staff-pin",
    metavar="DIGITS",
    help=f"This kiosk's staff PIN ({PIN_MIN_DIGITS}-{PIN_MAX_DIGITS} digits); default: a random one, shown once.",
)


@click.group()
@click.option("--root", type=_DIR, default=Path("/"), show_default=True, help="Install under ROOT/etc/kiosk.")
@click.option("--user", default=KIOSK_USER, show_default=True, help="The service user that reads the key.")
@click.option(
    "--sealing",
    type=click.Choice(["auto", "systemd-creds", "keyfile"]),
    default="auto",
    show_default=True,
    help="How the device key is sealed: auto is systemd-creds as root where installed, else a key file.",
)
@click.pass_context
def main(ctx: click.Context, root: Path, user: str, sealing: str) -> None:
    """Provision this kiosk for the fleet (identity, TLS, kiosk.toml)."""
    owner = Owner.resolve(user)
    backend: Backend | None = None if sealing == "auto" else cast(Backend, sealing)
    ctx.obj = Device(Layout(root.resolve()), owner, backend)
    ctx.call_on_close(lambda: click.echo(f"ownership: {owner.note}", err=True))


@main.command()
@click.option("--device-id", required=True, help="The kiosk's id: its certificate's CN and its MQTT topics.")
@click.option("--broker-host", required=True, help="The broker's name or IP, as in its certificate.")
@click.option("--broker-port", default=8883, show_default=True)
@click.option("--update-key", type=_FILE, required=True, help="The fleet's release public key (`fleet keys`).")
@click.option("--ca-cert", type=_FILE, help="The fleet CA certificate (default with --ca-dir: its ca.pem).")
@_CA_DIR
@_DAYS
@_STAFF_PIN
@click.option("--force", is_flag=True, help="Replace an existing identity and kiosk.toml.")
@click.pass_obj
def init(
    device: Device,
    device_id: str,
    broker_host: str,
    broker_port: int,
    update_key: Path,
    ca_cert: Path | None,
    ca_dir: Path | None,
    days: int,
    staff_pin: str | None,
    force: bool,
) -> None:
    """Create this kiosk's key and certificate request and write kiosk.toml with its own staff PIN (signed at
    once with --ca-dir)."""
    if ca_cert is None:
        if ca_dir is None:
            raise click.UsageError("give --ca-cert (the fleet CA certificate) or --ca-dir")
        ca_cert = ca_dir / pki.CA_CERT
    pin, generated = _staff_pin(staff_pin)
    with _refusals():
        csr = device.init(device_id, broker_host, broker_port, ca_cert, update_key, force, hash_pin(pin))
    _finish(device, csr, ca_dir, days)
    _show_pin(pin, generated)


@main.command("staff-pin")
@_STAFF_PIN
@click.pass_obj
def staff_pin_command(device: Device, staff_pin: str | None) -> None:
    """Set this kiosk's staff PIN (on a device provisioned before PINs were, or to change it); restart the kiosk."""
    pin, generated = _staff_pin(staff_pin)
    with _refusals():
        config = device.set_staff_pin(hash_pin(pin))
    click.echo(f"staff PIN set in {config}; it applies from the kiosk's next start (systemctl restart kiosk)")
    _show_pin(pin, generated)


@main.command()
@_CA_DIR
@_DAYS
@click.pass_obj
def rotate(device: Device, ca_dir: Path | None, days: int) -> None:
    """A new key and certificate; the current ones stay in use until the new pair is installed."""
    with _refusals():
        csr = device.rotate()
    _finish(device, csr, ca_dir, days)


@main.command("install-cert")
@click.argument("cert_path", type=_FILE)
@click.pass_obj
def install_cert(device: Device, cert_path: Path) -> None:
    """Install the certificate the fleet signed for the pending request."""
    with _refusals():
        _install(device, x509.load_pem_x509_certificate(cert_path.read_bytes()))


def _finish(device: Device, csr: x509.CertificateSigningRequest, ca_dir: Path | None, days: int) -> None:
    """Sign and install now with the CA, or say where the request is and what the fleet manager runs next."""
    if ca_dir is None:
        request = Layout.csr(device.layout.pending)
        click.echo(f"request for {pki.common_name(csr)}: {request}; on the fleet side:")
        click.echo(f"  fleet ca issue --csr {request.name}  then here: kiosk-provision install-cert CERT")
        return
    with _refusals():
        _install(device, pki.FleetCa.load(ca_dir).issue(csr, days))


def _install(device: Device, cert: x509.Certificate) -> None:
    folder = device.install_cert(cert)
    click.echo(
        f"{pki.common_name(cert)}: certificate {cert.serial_number:x} valid to {cert.not_valid_after_utc:%Y-%m-%d}"
        f" in {folder}; configuration {device.layout.config}"
    )


def _staff_pin(given: str | None) -> tuple[str, bool]:
    """The PIN to set and whether it was generated here: one given must pass ``check_new_pin``."""
    if given is None:
        return generate_pin(), True
    try:
        return check_new_pin(given), False
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--staff-pin") from None


def _show_pin(pin: str, generated: bool) -> None:
    """A generated PIN is printed this once (only its salted hash is kept), after everything else succeeded."""
    if generated:
        click.echo(f"staff PIN: {pin}  (shown only now: give it to the branch's staff; `staff-pin` sets another)")
    else:
        click.echo("staff PIN: the one given with --staff-pin")


@contextmanager
def _refusals() -> Iterator[None]:
    """ProvisionError and a CA's refusal (ValueError, no CA there) as a one-line error, not a traceback."""
    try:
        yield
    except (ProvisionError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
