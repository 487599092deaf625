"""On-device runtime of the Kestrel Bank customer-service kiosk."""
