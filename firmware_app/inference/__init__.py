"""Model files and the runtimes that execute them (no torch at kiosk time)."""
