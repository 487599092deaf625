"""Device enrolment (``kiosk-provision``): identity, keys and certificate, and the kiosk.toml the kiosk reads."""
