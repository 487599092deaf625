"""The kiosk's screen as data: what it shows (``state``), what can be done to it (``actions``), and the
controller that decides (``controller``), with its parts: typing (``forms``, ``pinyin``, ``choices``), the
technician's camera (``camera``), the staff screens (``staff``) and the voice hooks (``voice_hooks``). The
screen's own words in both languages are in ``strings``.

Nothing is imported here, so that a leaf such as ``actions`` or ``state`` can be imported (by the voice
commands, by the UI's screens) without building the controller and everything behind it.
"""
