"""The ``kiosk.toml`` provisioning writes: device id, the ``[sync]`` link over TLS, the ``[updates]`` key, and
the ``[ui]`` staff PIN's hash.

Only what provisioning decides goes in; every other setting keeps the kiosk's default, so a later software
version's defaults still apply. Strings are written as JSON strings, which are valid TOML basic strings.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime

from provisioning.layout import Layout


def render(layout: Layout, device_id: str, broker_host: str, broker_port: int) -> str:
    current = layout.current
    lines = [
        f"# Written by kiosk-provision at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (`init --force` replaces it).",
        f"device_id = {json.dumps(device_id)}",
        "",
        "[sync]",
        "enabled = true",
        f"broker_host = {json.dumps(broker_host)}",
        f"broker_port = {broker_port}",
        f"ca_file = {json.dumps(str(layout.ca_cert))}",
        f"cert_file = {json.dumps(str(Layout.cert(current)))}",
        f"key_file = {json.dumps(str(Layout.key(current)))}",
        f"sealing_key_file = {json.dumps(str(layout.sealing_key))}",
        "",
        "[updates]",
        f"public_key = {json.dumps(str(layout.update_key))}",
        "",
    ]
    return "\n".join(lines)


PIN_KEY = "admin_pin_hash"
_SECTION = re.compile(r"\s*\[\s*([^\]\s]+)\s*\]\s*(#.*)?")
_PIN_LINE = re.compile(r"\s*admin_pin_(hash|sha256)\s*=")  # the old key too: one PIN, under the current name


def with_staff_pin(text: str, pin_hash: str) -> str:
    """``text`` (``render``'s, or a kiosk.toml edited by hand since) with its staff PIN set: the line in ``[ui]``
    is swapped in place, every other line kept as it was; a file without ``[ui]`` gains the section at its end.
    ValueError if the result does not read back with exactly this hash (a layout this cannot edit)."""
    lines, section, placed = [], "", False
    for line in text.splitlines():
        header = _SECTION.fullmatch(line)
        section = header.group(1) if header else section
        if section == "ui" and _PIN_LINE.match(line):
            continue
        lines.append(line)
        if header and section == "ui" and not placed:
            lines.append(f"{PIN_KEY} = {json.dumps(pin_hash)}")
            placed = True
    result = "\n".join(lines) + "\n"
    if not placed:
        result += f"\n[ui]\n{PIN_KEY} = {json.dumps(pin_hash)}\n"
    if tomllib.loads(result).get("ui", {}).get(PIN_KEY) != pin_hash:
        raise ValueError("could not set [ui] admin_pin_hash in this kiosk.toml: edit it by hand")
    return result
