"""The kiosk's side of the fleet link: outbox, status, telemetry, remote configuration and updates over MQTT.

What the backend shares with it (the wire schema, TLS, release signatures) lives below both, in ``kiosk_link``.
"""
