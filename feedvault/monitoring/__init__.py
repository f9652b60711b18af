"""Watching the archive: feed health and per-feed metrics."""
