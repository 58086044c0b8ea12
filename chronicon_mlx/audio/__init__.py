"""Hearing a video: its audio track decoded in chunks, loudness per second, voice regions
and speech to text."""
