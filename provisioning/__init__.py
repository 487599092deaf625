"""Device enrolment (``kiosk-provision``): identity, keys and certificate, and the kiosk.toml the kiosk reads.

It imports only the link package (``kiosk_link``: the PKI, sealed secrets, the wire's device ids), never the kiosk
or the backend, so enrolling a device loads neither (``tests/test_import_graph.py``).
"""
