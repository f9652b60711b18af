"""Where the bundled demo publisher lives: its rendered site and its registry (re-exported by feedvault.demo)."""

from __future__ import annotations

from pathlib import Path

DEMO_SITE = Path(__file__).parent / "site"
DEMO_REGISTRY = Path(__file__).parent / "feeds.yaml"
