"""Decode HTML bytes: BOM, then the declared charset, then the page's own declaration, then detection.

A charset is only trusted if the bytes decode strictly with it, so windows-1252 pages served as "UTF-8"
(common on older portals) are detected instead of turning "café" into "caf\ufffd".
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(
    rb"""<meta\s[^>]*?(?:charset\s*=\s*["']?\s*|content\s*=\s*["'][^"'>]*?charset\s*=\s*)([\w.:-]+)""", re.I
)
# As browsers do (WHATWG Encoding Standard): these labels mean windows-1252; a <meta> claiming UTF-16/32 in
# a page that was parsed as ASCII-compatible bytes means UTF-8.
_WINDOWS_1252_ALIASES = {"iso8859-1", "ascii"}
_SNIFF_BYTES = 4096


def _codec(label: str | None, in_page: bool = False) -> str | None:
    """Python codec name for a charset label, or None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    if in_page and name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return "cp1252" if name in _WINDOWS_1252_ALIASES else name


def _strict(body: bytes, encoding: str | None) -> str | None:
    if encoding is None:
        return None
    try:
        return body.decode(encoding)
    except UnicodeDecodeError:
        return None


def _detect(body: bytes) -> str | None:
    """charset-normalizer's guess, but windows-1252 when it ties with the best guess.

    On short Latin-script pages the detector cannot tell windows-1250/1252/1257 apart (same chaos and
    coherence scores); windows-1252 is by far the most common of them and what browsers fall back to.
    """
    matches = charset_normalizer.from_bytes(body)
    best = matches.best()
    if best is None:
        return None
    tied = (m for m in matches if m.chaos <= best.chaos and m.coherence >= best.coherence)
    if any("cp1252" in m.could_be_from_charset for m in tied):
        return "cp1252"
    return _codec(best.encoding)


def decode_html(body: bytes, declared_encoding: str | None) -> tuple[str, str]:
    """Decode ``body``; returns (text, Python codec name used)."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, errors="replace"), encoding
    candidates = [_codec(declared_encoding)]
    if match := _META_CHARSET.search(body[:_SNIFF_BYTES]):
        candidates.append(_codec(match.group(1).decode("ascii", "replace"), in_page=True))
    for encoding in candidates:
        text = _strict(body, encoding)
        if text is not None and encoding is not None:
            return text, encoding
    detected = _detect(body)
    text = _strict(body, detected)
    if text is not None and detected is not None:
        return text, detected
    return body.decode("utf-8", errors="replace"), "utf-8"
