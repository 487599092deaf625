"""The ``kiosk.toml`` provisioning writes: device id, the ``[sync]`` link over TLS, the ``[updates]`` key.

Only what provisioning decides goes in; every other setting keeps the kiosk's default, so a later software
version's defaults still apply. Strings are written as JSON strings, which are valid TOML basic strings.
"""

from __future__ import annotations

import json
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
