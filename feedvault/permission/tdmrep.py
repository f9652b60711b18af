"""W3C TDM Reservation Protocol (TDMRep, Community Group final report): the site file and value parsing.

- ``/.well-known/tdmrep.json`` is a JSON array of rules ``{"location", "tdm-reservation", "tdm-policy"?}``.
  ``location`` is a robots.txt-style path pattern (``*`` any characters, a final ``$`` anchors the end), matched
  case-sensitively from the start of the path; the first matching rule applies; no match means *unset*. A file
  that cannot be fetched (non-2xx) means the site does not implement the protocol (*unset*). An invalid file is
  a protocol error, and the spec's fallback for protocol errors is *unset*: every way a file can be invalid (not
  UTF-8, over :data:`MAX_FILE_BYTES`, not JSON, nested too deep to parse, not a JSON array) raises
  :class:`InvalidTdmRepFile` with its ``kind``, and the whole file is then unset (recorded as evidence, never a
  crash). An error inside one rule makes only that rule unset or skipped.
- ``tdm-reservation`` is ``1`` (TDM rights reserved) or ``0`` (not reserved); any other value is a protocol
  error and counts as *unset*. ``tdm-policy`` is a URL, recorded as evidence.
- Precedence (spec, "Processing priority"): the ``tdm-reservation``/``tdm-policy`` HTTP headers supersede the
  file, and ``<meta name="tdm-reservation">``/``tdm-policy`` in the HTML supersede both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

WELL_KNOWN_PATH = "/.well-known/tdmrep.json"
#: A rule array this large is not a policy file (robots.txt parsers must read 500 KiB; this is twice that).
MAX_FILE_BYTES = 1024 * 1024
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def parse_reservation(value: Any) -> int | None:
    """``1`` or ``0``; anything else (absent, ``"2"``, ``"yes"``) is *unset* (``None``)."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text in ("0", "1") else None


def _normalise(path: str) -> str:
    """Decode percent-encoded unreserved characters (the spec's comparison rule); upper-case the others."""

    def fix(match: re.Match[str]) -> str:
        byte = int(match.group(1), 16)
        return chr(byte) if byte in _UNRESERVED else f"%{match.group(1).upper()}"

    return _PERCENT.sub(fix, path)


def compile_location(location: str) -> re.Pattern[str]:
    anchored = location.endswith("$")
    body = _normalise(location[:-1] if anchored else location)
    pattern = ".*".join(re.escape(part) for part in body.split("*"))
    return re.compile(pattern + (r"\Z" if anchored else ""))


def url_path(url: str) -> str:
    """The part of a URL that locations match: path (``/`` if empty) and query."""
    parts = urlsplit(url)
    return _normalise((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))


@dataclass(frozen=True)
class TdmRule:
    location: str
    reservation: int | None
    policy: str | None
    pattern: re.Pattern[str]

    def to_dict(self) -> dict[str, Any]:
        return {"location": self.location, "tdm-reservation": self.reservation, "tdm-policy": self.policy}


class InvalidTdmRepFile(ValueError):
    """A tdmrep.json that is not a valid rule array; ``kind`` says how (one word, for evidence and tests)."""

    KINDS = ("too-large", "wrong-encoding", "bad-json", "too-deep", "wrong-type")

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def parse_file(body: bytes) -> tuple[TdmRule, ...]:
    """Rules of a tdmrep.json body; raises :class:`InvalidTdmRepFile` for every way it can be invalid.

    Errors inside one rule stay in that rule, the rest of the file applies: a rule without a string
    ``location`` (or not an object) is skipped; a rule with an invalid ``tdm-reservation`` still matches (it is
    the first in sequence) but yields *unset*, as the spec says of protocol errors.
    """
    if len(body) > MAX_FILE_BYTES:
        raise InvalidTdmRepFile("too-large", f"{len(body)} bytes (at most {MAX_FILE_BYTES})")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidTdmRepFile("wrong-encoding", f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise InvalidTdmRepFile("too-deep", "nested too deeply to parse") from None
    except ValueError as exc:
        raise InvalidTdmRepFile("bad-json", str(exc)) from None
    if not isinstance(data, list):
        raise InvalidTdmRepFile("wrong-type", f"expected a JSON array of rules, got {type(data).__name__}")
    rules = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("location"), str) or not item["location"]:
            continue
        policy = item.get("tdm-policy")
        rules.append(
            TdmRule(
                location=item["location"],
                reservation=parse_reservation(item.get("tdm-reservation")),
                policy=policy if isinstance(policy, str) else None,
                pattern=compile_location(item["location"]),
            )
        )
    return tuple(rules)


def match(rules: Sequence[TdmRule], url: str) -> TdmRule | None:
    """The first rule whose location matches the URL's path, or None."""
    path = url_path(url)
    return next((rule for rule in rules if rule.pattern.match(path)), None)


def resolve(
    file_rule: dict[str, Any] | None,
    headers: Sequence[str],
    header_policy: str | None,
    meta: Sequence[str],
    meta_policy: str | None,
) -> dict[str, Any]:
    """The effective reservation for one page: meta over header over file; unset layers are skipped.

    Several values in one layer (repeated headers or meta elements) resolve to the strictest valid one.
    Returns ``{"reservation": 1|0|None, "source": "meta"|"header"|"file"|None, "policy", "layers"}``.
    """
    layers: dict[str, dict[str, Any]] = {}
    if file_rule is not None:
        layers["file"] = {"reservation": file_rule.get("tdm-reservation"), "policy": file_rule.get("tdm-policy")}
    for name, values, policy in (("header", headers, header_policy), ("meta", meta, meta_policy)):
        if values:
            valid = [v for v in (parse_reservation(v) for v in values) if v is not None]
            layers[name] = {"reservation": max(valid) if valid else None, "values": list(values), "policy": policy}
    result: dict[str, Any] = {"reservation": None, "source": None, "policy": None, "layers": layers}
    for name in ("meta", "header", "file"):
        layer = layers.get(name)
        if layer is not None and layer["reservation"] is not None:
            reservation = layer["reservation"]
            policy = layer.get("policy") if reservation == 1 else None  # the spec: ignore policy when 0
            result.update(reservation=reservation, source=name, policy=policy)
            break
    return result
