"""The fleet backend: ingests what kiosks send over MQTT into its own database (``fleet`` CLI).

It shares exactly one module with the kiosk, the wire schema ``firmware_app.sync.wire``.
"""
