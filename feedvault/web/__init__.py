"""Browse the archive over HTTP: the JSON API (``api``), the pages (``pages``), one service layer (``service``)."""
