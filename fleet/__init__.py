"""The fleet backend: ingests what kiosks send over MQTT into its own database (``fleet`` CLI).

It shares no code with the kiosk (``firmware_app``): only the link package below both, ``kiosk_link`` (the wire
schema, TLS, the fleet's PKI, release signatures), which ``tests/test_import_graph.py`` holds it to.
"""
