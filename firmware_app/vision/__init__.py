"""Camera and photo handling for technicians."""
