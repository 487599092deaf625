"""Language understanding on the kiosk: entities, sentiment and the other signals read from what a customer says."""
