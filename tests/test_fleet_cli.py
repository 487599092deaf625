"""The ``fleet`` command as a fleet manager meets it: the CA's broker names, and logs in the kiosk's JSON lines."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509

from fleet.cli import main
from kiosk_link import pki
from tests.mosquitto import free_port


def broker_names(ca_dir: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate((ca_dir / pki.SERVER_CERT).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName)), {
        str(address) for address in names.get_values_for_type(x509.IPAddress)
    }


def test_ca_init_takes_several_broker_names_repeated_or_comma_separated(tmp_path: Path) -> None:
    args = ["ca", "init", "--out", str(tmp_path / "ca"), "--host", "mqtt.example.com, 10.0.0.5", "--host", "broker"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert broker_names(tmp_path / "ca") == ({"mqtt.example.com", "broker"}, {"10.0.0.5"})  # the IP as an IP SAN
    assert "for mqtt.example.com, 10.0.0.5, broker" in result.output

    empty = CliRunner().invoke(main, ["ca", "init", "--out", str(tmp_path / "ca2"), "--host", ","])
    assert empty.exit_code == 2 and "broker's DNS name or IP address" in empty.output
    assert not (tmp_path / "ca2").exists()


def test_fleet_serve_logs_json_lines_on_stderr(tmp_path: Path) -> None:
    """A real ``fleet serve`` (no broker on its port): it says where it serves, and stops on SIGTERM, each as one
    JSON object per stderr line."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLEET_")}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet", "--db", str(tmp_path / "fleet.db"), "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert select.select([process.stderr], [], [], 30)[0], "no log line within 30 s"
        first = process.stderr.readline()
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    lines = [json.loads(line) for line in [first, *rest.splitlines()]]
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines), lines
    assert lines[0]["msg"] == "serving until SIGTERM or Ctrl-C"
    assert lines[0]["broker"] == f"127.0.0.1:{port}" and lines[0]["tls"] is False
    assert lines[-1]["msg"] == "stopped" and lines[-1]["stored"] == 0
