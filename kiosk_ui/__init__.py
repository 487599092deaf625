"""The kiosk touchscreen (pygame): screens that read the controller state and send its actions."""
