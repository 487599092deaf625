"""The staff console (``fleet web``): the hand-off queue for branch staff, and devices, configuration, rollouts,
the service dashboard and the audit for fleet managers, as web pages over a JSON API (FastAPI), live through
server-sent events, on the same database as ``fleet serve``."""
