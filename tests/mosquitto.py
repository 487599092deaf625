"""A real Mosquitto broker for tests: its own config file, a free loopback port, persistence in a temp folder.

Stopping it with SIGTERM saves its persistence file and starting it again on the same port restores it, as a
broker restart in the field would (sessions, queued messages, retained status).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

# Debian installs the broker in /usr/sbin, which is not on an ordinary user's PATH.
MOSQUITTO = shutil.which("mosquitto", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    host = "127.0.0.1"

    def __init__(self, folder: Path, port: int | None = None) -> None:
        if MOSQUITTO is None:
            raise FileNotFoundError("mosquitto is not installed")
        self.folder = folder
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "mosquitto.log"
        self.config = folder / "mosquitto.conf"
        self.config.write_text(self.config_text(), encoding="utf-8")

    def config_text(self) -> str:
        return (
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "set_tcp_nodelay true\n"
            # Mosquitto keeps 1,000 QoS 1 messages per client by default and drops the rest: a backend taking the
            # tickets of several kiosks flushing their outboxes (500 in flight each) would lose deliveries to it,
            # which the kiosks re-send only after their acknowledgement timeout. A fleet broker needs more.
            "max_queued_messages 100000\n"
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            # Run as root (a CI container), mosquitto would switch to the 'mosquitto' user, who cannot write here.
            f"user {getpass.getuser()}\n"
        )

    def start(self, timeout: float = 5.0) -> None:
        assert MOSQUITTO is not None
        self._process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited: {self._process.stderr.read().decode() if self._process.stderr else ''}"
                )
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: a crash; what the broker had not saved to its persistence file is gone."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)
        self._process = None

    def stop(self) -> None:
        """SIGTERM: the broker saves its persistence file and closes every connection."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(timeout=10)
        self._process = None


class GeneratedMosquitto(Mosquitto):
    """The broker exactly as ``fleet broker-config`` configured it (``generated``, for ``port`` on loopback), plus
    what a test needs: every log line (connections, TLS failures, ACL denials) in ``self.log``, and this user."""

    def __init__(self, folder: Path, generated: Path, port: int) -> None:
        self.generated = generated
        super().__init__(folder, port)

    def config_text(self) -> str:
        return self.generated.read_text() + f"log_dest file {self.log}\nlog_type all\nuser {getpass.getuser()}\n"

    def log_lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8", errors="replace").splitlines() if self.log.exists() else []
