"""Listening: audio sources and sinks, voice activity, wake words and the listening loop."""
