"""Fleet sync over MQTT: the wire schema shared with the backend (``wire``) and the kiosk's side of the link.

Only ``wire`` may be imported by ``fleet`` and ``provisioning``; everything else here is the kiosk's own.
"""
