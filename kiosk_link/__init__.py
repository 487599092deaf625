"""The link between a kiosk and its fleet: what both ends must agree on, and nothing either end owns alone.

The wire schema (``wire``), the TLS context both ends connect with (``tls``), the fleet's PKI (``pki``) and the
release-signature check (``trust``), secrets at rest (``secret_store``), the staff PIN's stored form
(``pin_hash``), routing received messages to their handlers (``routing``) and the one durable way to replace a
file (``durable``). It sits below the kiosk
(``firmware_app``), the backend (``fleet``) and provisioning, and imports none of them
(``tests/test_import_graph.py`` holds every package to its layer), so the backend and provisioning never load
kiosk code.
"""
