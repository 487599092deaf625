"""Tickets: what the kiosk hands to staff and to the back office, stored with their outbox row."""
