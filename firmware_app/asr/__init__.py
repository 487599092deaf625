"""Speech recognition: a fast PocketSphinx path built from the active pack, an accurate Whisper path, and the
policy that picks between them (``types.py`` holds the interface they share)."""
