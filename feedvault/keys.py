"""The one key layout of the archive. Every object name is built here and nowhere else.

Layout (relative to the store's prefix)::

    raw/<feed>/<yyyy>/<mm>/<dd>/<run-id>-<nnnnn>.warc.gz          WARC/1.1, one gzip member per record
    clean/<feed>/<yyyy>/<mm>/<dd>/<run-id>-<nnnnn>.jsonl.gz        clean records, one gzip member (JSON line) each
    clean/<feed>/<yyyy>/<mm>/<dd>/<run-id>/<url-key>.json         one clean snapshot of one URL (older archives)
    runs/<yyyy>/<mm>/<dd>/<run-id>/feeds/<feed>.json              per-feed manifest of a run
    runs/<yyyy>/<mm>/<dd>/<run-id>/manifest.json                  run manifest, written last (commit marker)
    state/<feed>.json                                             seen state of a feed (revisit decisions)
    fingerprints/<feed>.json                                      lines recurring across a feed's articles (learned)
    tombstones/<url-key>.json                                     a taken-down URL: reason, date, what was removed
    audit/<yyyy>/<mm>/<dd>/<timestamp>-<action>.json              audit trail of takedowns and other admin acts
    catalog/catalog.sqlite                                        the browse catalog (derived; rebuildable)
    health/feeds.json                                             every feed's health (derived; rebuildable)

A clean record is named by its *clean pointer*, one opaque string: ``<segment key>#<offset>+<length>`` (its gzip
member in a segment: one ranged GET) or, in archives written before segments, the key of its own object.
:func:`parse_clean_pointer` reads both; nothing else needs to look inside one.

Re-cleaning (``feedvault reclean``) is a run of its own, with run id ``<UTC timestamp>-reclean``: a new version
of an older capture's clean record goes to ``clean/<feed>/<yyyy>/<mm>/<dd>/<reclean-run-id>/<url-key>.json``
(the reclean's day), keeps the capture's raw pointer (the WARC of the run that fetched it) and names the version
it replaces (``recleaned_from``); the older versions stay where they are, so every version is in the URL's
history, newest last. Its manifests are those of any run (outcome ``changed``, reason ``reclean``).

A run owns its partition (``<yyyy>/<mm>/<dd>/<run-id>``): a retry of the same run id first deletes what an
earlier attempt left there, so re-running a logical date replaces its partition instead of adding to it.
URLs never appear in keys: a URL is represented by :func:`url_key`, a hash of its normalised form.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import yaml
from w3lib.url import canonicalize_url

from feedvault.config import FEED_ID_RE

RUN_ID_RE = re.compile(r"^(\d{8}T\d{6}Z)(?:-([a-z0-9][a-z0-9-]{0,40}))?$")
_FEED_ID = re.compile(FEED_ID_RE)


class UnsafeKeyError(ValueError):
    """A value that would produce an unsafe or ambiguous key."""


TRACKING_PARAMETERS_FILE = Path(__file__).with_name("tracking_parameters.yaml")


@functools.cache
def tracking_parameters() -> tuple[frozenset[str], tuple[str, ...]]:
    """(names, prefixes) of query parameters that only track a visit, from ``tracking_parameters.yaml``."""
    data = yaml.safe_load(TRACKING_PARAMETERS_FILE.read_text(encoding="utf-8")) or {}
    names = frozenset(str(n).lower() for n in data.get("names") or ())
    return names, tuple(str(p).lower() for p in data.get("prefixes") or ())


def _tracking(pair: str) -> bool:
    names, prefixes = tracking_parameters()
    name = unquote_plus(pair.split("=", 1)[0]).lower()
    return name in names or name.startswith(prefixes)


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_IN_NORMAL_FORM = re.compile(rf"https?://(?:{_LABEL}\.)*{_LABEL}(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]*)+")
"""URLs that are their own normal form: lower-case http(s) host of plain labels, no port, credentials, query or
fragment, a path of unreserved characters without dot segments. What the catalog indexes (URLs already
normalised) mostly looks like this; recognising it costs a regular expression instead of w3lib's 30 us."""


@functools.lru_cache(maxsize=65536)  # pure, and called several times per feed entry
def normalize_url(url: str) -> str:
    """The one form of a URL used to fetch it and as its identity, so that variants of one article are one.

    w3lib's ``canonicalize_url`` (dot segments resolved, unreserved characters unescaped and the rest escaped
    the same way, query sorted, fragment dropped), then tracking parameters dropped (``utm_*`` and the others in
    ``tracking_parameters.yaml``), scheme and host lower-cased, default ports dropped. A URL already in that
    form (:data:`_IN_NORMAL_FORM`) is returned as it is.
    """
    if _IN_NORMAL_FORM.fullmatch(url):
        return url
    return _canonical_form(url)


def _canonical_form(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.username or parts.password:
        raise UnsafeKeyError(f"URLs with credentials are not archived: {url!r}")
    try:
        canonical = urlsplit(canonicalize_url(url.strip()))
    except ValueError as exc:  # w3lib refuses what it cannot encode (e.g. a bad IPv6 host)
        raise UnsafeKeyError(f"not a URL feedvault can archive: {url!r} ({exc})") from None
    scheme = canonical.scheme.lower()
    host = (canonical.hostname or "").lower()
    port = canonical.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = "&".join(pair for pair in canonical.query.split("&") if pair and not _tracking(pair))
    return urlunsplit((scheme, host, canonical.path or "/", query, ""))


@functools.cache
def _public_suffixes() -> Any:
    """The Public Suffix List as tldextract bundles it (private domains included: ``a.github.io`` and
    ``b.github.io`` are different sites); never fetched from the network."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def site_of(url: str) -> str:
    """The site of a URL: its registrable domain (``news.example.co.uk`` -> ``example.co.uk``), or the host
    itself where there is none (an IP address, ``localhost``)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return _public_suffixes()(host).top_domain_under_public_suffix or host


@dataclass(frozen=True)
class Identity:
    """Which URL a fetched page is archived under: its same-site canonical link, else the URL fetched.
    ``canonical`` says what the page declared and, when it was not used, why (JSON-ready)."""

    url: str
    canonical: dict[str, str] | None = None


def canonical_identity(fetched_url: str, hrefs: list[str]) -> Identity:
    """The identity of a page fetched from ``fetched_url`` (normalised) that declares ``hrefs`` as its
    ``<link rel=canonical>``: the canonical URL when it is on the same site, so URL variants of one article
    (print and AMP views, extra query parameters) are one history. Ignored, with the reason: several different
    canonicals (``several``), one that is not http(s) (``not-http``), one that is no URL we can archive
    (``malformed``), one on another site (``cross-site``: a page cannot claim another site's identity), the home
    page or a section above the page (``section-page``: a template's mistake that would make every article one)."""
    if not hrefs:
        return Identity(fetched_url)
    resolved = {_joined(fetched_url, href) for href in hrefs}
    href = sorted(resolved)[0]
    if len({_comparable(url) for url in resolved}) > 1:  # the same URL written twice is one canonical
        return Identity(fetched_url, {"href": " ".join(sorted(resolved))[:2000], "ignored": "several"})
    try:
        if urlsplit(href).scheme.lower() not in ("http", "https"):
            return Identity(fetched_url, {"href": href[:2000], "ignored": "not-http"})
        canonical = normalize_url(href)
        if not urlsplit(canonical).hostname:
            raise UnsafeKeyError(f"no host in {href!r}")
    except (UnsafeKeyError, ValueError):
        return Identity(fetched_url, {"href": href[:2000], "ignored": "malformed"})
    if site_of(canonical) != site_of(fetched_url):
        return Identity(fetched_url, {"href": canonical, "ignored": "cross-site"})
    if _contains(canonical, fetched_url):
        return Identity(fetched_url, {"href": canonical, "ignored": "section-page"})
    return Identity(canonical, None if canonical == fetched_url else {"href": canonical})


def _joined(base: str, href: str) -> str:
    """``href`` resolved against ``base``; as written when it cannot be (it is then malformed)."""
    try:
        return urljoin(base, href)
    except ValueError:
        return href


def _contains(canonical: str, fetched_url: str) -> bool:
    """Whether ``canonical`` (on the same site) is a page above ``fetched_url`` (the home page, a section: a
    directory of its path), as templates that give every page the site's or section's URL declare."""
    above, page = urlsplit(canonical), urlsplit(fetched_url)
    return not above.query and above.path.endswith("/") and page.path.startswith(above.path) and page.path != above.path


def _comparable(url: str) -> str:
    try:
        return normalize_url(url)
    except (UnsafeKeyError, ValueError):
        return url


def url_key(url: str) -> str:
    """Stable, safe key segment for a URL: 32 hex chars of sha256 of its normalised form."""
    return hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:32]


# MAX_SHARDS (feedvault.config): a shard's WARCs take serials index * SHARD_SERIALS + n: five digits hold ten blocks
SHARD_SERIALS = 10_000


def shard_of_key(key: str, count: int) -> int:
    """The shard (0 .. count-1) of a URL key: stable across runs, processes and machines (sha256, not hash())."""
    return int(key[:8], 16) % count


def shard_of(url: str, count: int) -> int:
    """The shard of a URL, by its normalised form: URL variants of an article fall in one shard."""
    return shard_of_key(url_key(url), count)


def check_feed_id(feed_id: str) -> str:
    if not _FEED_ID.match(feed_id):
        raise UnsafeKeyError(f"invalid feed id {feed_id!r} (expected {FEED_ID_RE})")
    return feed_id


@dataclass(frozen=True)
class RunId:
    """A run id is ``<UTC timestamp>[-<label>]``; its timestamp fixes the run's partition date."""

    value: str

    def __post_init__(self) -> None:
        match = RUN_ID_RE.match(self.value)
        try:  # the timestamp must be a real UTC time: it names the partition
            valid = match is not None and bool(dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ"))
        except ValueError:
            valid = False
        if not valid:
            raise UnsafeKeyError(
                f"invalid run id {self.value!r} (expected YYYYMMDDTHHMMSSZ[-label], a real UTC time and a label of "
                "lower-case letters, digits and '-')"
            )

    @classmethod
    def new(cls, at: dt.datetime | None = None, label: str | None = None) -> RunId:
        at = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        stamp = at.strftime("%Y%m%dT%H%M%SZ")
        if label:
            label = re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")[:40]
        return cls(f"{stamp}-{label}" if label else stamp)

    @property
    def started(self) -> dt.datetime:
        stamp = RUN_ID_RE.match(self.value).group(1)  # type: ignore[union-attr]
        return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)

    @property
    def day(self) -> str:
        return self.started.strftime("%Y/%m/%d")

    def __str__(self) -> str:
        return self.value


def raw_warc_key(feed_id: str, run: RunId, serial: int, shard: int | None = None) -> str:
    """A WARC of a run's feed; a shard's WARCs take their own block of serials (``shard * SHARD_SERIALS``
    onwards), so concurrent shards never name the same file and a shard's retry clears only its own."""
    return f"{raw_prefix(feed_id, run)}{_in_block(serial, shard, 'WARCs', 'warc_max_bytes'):05d}.warc.gz"


def _in_block(serial: int, shard: int | None, what: str, setting: str) -> int:
    """The serial in the shard's block (unchanged for an unsharded run)."""
    if shard is None:
        return serial
    if serial >= SHARD_SERIALS:
        raise UnsafeKeyError(f"shard {shard} wrote {SHARD_SERIALS} {what}: raise storage.{setting}")
    return serial + shard * SHARD_SERIALS


def shard_of_warc(key: str) -> int:
    """The shard whose serial block a WARC (or CDXJ) key is in (0 for an unsharded run's first block)."""
    return int(key.rsplit("-", 1)[1][:5]) // SHARD_SERIALS


def raw_prefix(feed_id: str, run: RunId) -> str:
    """Prefix of every WARC a run writes for a feed (note: ends with ``<run-id>-``)."""
    return f"raw/{check_feed_id(feed_id)}/{run.day}/{run.value}-"


def clean_key(feed_id: str, run: RunId, url: str) -> str:
    """The key of one clean record as its own object (the layout before segments; still readable)."""
    return f"{clean_prefix(feed_id, run)}{url_key(url)}.json"


CLEAN_SEGMENT_SUFFIX = ".jsonl.gz"


def clean_segment_key(feed_id: str, run: RunId, serial: int, shard: int | None = None) -> str:
    """A clean segment of a run's feed; a shard's take its block of serials, like its WARCs."""
    serial = _in_block(serial, shard, "clean segments", "clean_segment_max_bytes")
    return f"{clean_segment_prefix(feed_id, run)}{serial:05d}{CLEAN_SEGMENT_SUFFIX}"


def clean_segment_prefix(feed_id: str, run: RunId) -> str:
    """Prefix of every clean segment a run writes for a feed (note: ends with ``<run-id>-``, like raw)."""
    return f"clean/{check_feed_id(feed_id)}/{run.day}/{run.value}-"


@dataclass(frozen=True)
class CleanPointer:
    """Where a clean record is: ``length`` bytes at ``offset`` of the segment ``key``, or (``offset`` None) the
    whole object ``key`` (the layout before segments)."""

    key: str
    offset: int | None = None
    length: int | None = None

    def __str__(self) -> str:
        return self.key if self.offset is None else f"{self.key}#{self.offset}+{self.length}"


_POINTER = re.compile(r"^(?P<key>[^#]+)#(?P<offset>\d+)\+(?P<length>\d+)$")


def clean_pointer(segment_key: str, offset: int, length: int) -> str:
    return str(CleanPointer(segment_key, offset, length))


def parse_clean_pointer(pointer: str) -> CleanPointer:
    """The parts of a clean pointer; an old-layout key (no ``#``) is a whole object. ValueError if malformed."""
    if "#" not in pointer:
        return CleanPointer(pointer)
    match = _POINTER.match(pointer)
    if match is None or not match["key"].endswith(CLEAN_SEGMENT_SUFFIX) or int(match["length"]) == 0:
        raise ValueError(f"not a clean pointer: {pointer!r} (expected <segment>.jsonl.gz#<offset>+<length>)")
    return CleanPointer(match["key"], int(match["offset"]), int(match["length"]))


def clean_prefix(feed_id: str, run: RunId) -> str:
    return f"clean/{check_feed_id(feed_id)}/{run.day}/{run.value}/"


def feed_manifest_key(run: RunId, feed_id: str) -> str:
    return f"{run_prefix(run)}feeds/{check_feed_id(feed_id)}.json"


def shard_manifest_key(run: RunId, feed_id: str, shard: int) -> str:
    """One shard's manifest of a sharded feed; merged into the feed manifest when the run commits, then deleted."""
    return f"{run_prefix(run)}shards/{check_feed_id(feed_id)}/{shard:02d}.json"


def run_manifest_key(run: RunId) -> str:
    return f"{run_prefix(run)}manifest.json"


def run_prefix(run: RunId) -> str:
    return f"runs/{run.day}/{run.value}/"


def state_key(feed_id: str) -> str:
    return f"state/{check_feed_id(feed_id)}.json"


RECLEAN_LABEL = "reclean"


def is_reclean_run(run_id: str) -> bool:
    """Whether a run id names a re-clean (``feedvault reclean``): its clean records are new versions of older
    captures, whose raw records stay in the WARCs of the runs that fetched them."""
    match = RUN_ID_RE.match(run_id)
    return bool(match and match.group(2) == RECLEAN_LABEL)


def fingerprints_key(feed_id: str) -> str:
    """The feed's learned boilerplate (feedvault.cleaning.fingerprints), rewritten at the end of each run."""
    return f"fingerprints/{check_feed_id(feed_id)}.json"


def partition_prefixes(feed_id: str, run: RunId) -> list[str]:
    """Everything one run writes for one feed: what a retry of that run deletes before it starts."""
    return [
        raw_prefix(feed_id, run),
        clean_segment_prefix(feed_id, run),
        clean_prefix(feed_id, run),
        feed_manifest_key(run, feed_id),
        f"{run_prefix(run)}shards/{check_feed_id(feed_id)}/",
    ]


def partition_keys(listing: Iterable[str], feed_id: str, run: RunId) -> list[str]:
    """The keys of ``listing`` (objects under :func:`partition_prefixes`) that belong to exactly this run: the
    prefixes ending in ``<run-id>-`` also match a labelled run of the same second (``<run-id>-<label>-...``)."""
    found = []
    for key in listing:
        parsed = parse_partition_key(key)
        if parsed is not None and parsed.run_id == run.value and parsed.feed_id == feed_id:
            found.append(key)
    return found


def shard_partition_keys(listing: Iterable[str], feed_id: str, run: RunId, shard: int, count: int) -> list[str]:
    """The keys of one shard's part of a run's partition (what a retry of that shard deletes): its WARCs, CDXJ
    and clean segments (by serial block), its clean records (by URL key) and its shard manifest."""
    found = []
    for key in partition_keys(listing, feed_id, run):
        kind = parse_partition_key(key).kind  # type: ignore[union-attr]
        if kind in ("warc", "cdxj", "clean-segment"):
            mine = shard_of_warc(key) == shard
        elif kind == "clean":
            mine = shard_of_key(key.rsplit("/", 1)[1][:32], count) == shard
        else:
            mine = key == shard_manifest_key(run, feed_id, shard)
        if mine:
            found.append(key)
    return found


@dataclass(frozen=True)
class PartitionObject:
    """What a key of a run's partition says about itself (see :func:`parse_partition_key`)."""

    kind: str  # warc | cdxj | clean-segment | clean | feed-manifest | shard-manifest | run-manifest
    run_id: str
    feed_id: str | None  # None for a run manifest


_PARTITION_KEYS = (
    ("warc", re.compile(r"^raw/(?P<feed>[^/]+)/\d{4}/\d{2}/\d{2}/(?P<run>[^/]+)-\d{5}\.warc\.gz$")),
    ("cdxj", re.compile(r"^raw/(?P<feed>[^/]+)/\d{4}/\d{2}/\d{2}/(?P<run>[^/]+)-\d{5}\.cdxj$")),
    ("clean-segment", re.compile(r"^clean/(?P<feed>[^/]+)/\d{4}/\d{2}/\d{2}/(?P<run>[^/]+)-\d{5}\.jsonl\.gz$")),
    ("clean", re.compile(r"^clean/(?P<feed>[^/]+)/\d{4}/\d{2}/\d{2}/(?P<run>[^/]+)/[0-9a-f]{32}\.json$")),
    ("feed-manifest", re.compile(r"^runs/\d{4}/\d{2}/\d{2}/(?P<run>[^/]+)/feeds/(?P<feed>[^/]+)\.json$")),
    ("shard-manifest", re.compile(r"^runs/\d{4}/\d{2}/\d{2}/(?P<run>[^/]+)/shards/(?P<feed>[^/]+)/\d{2}\.json$")),
    ("run-manifest", re.compile(r"^runs/\d{4}/\d{2}/\d{2}/(?P<run>[^/]+)/manifest\.json$")),
)


def parse_partition_key(key: str) -> PartitionObject | None:
    """The run (and feed) an object under ``raw/``, ``clean/`` or ``runs/`` belongs to; None for other keys."""
    for kind, pattern in _PARTITION_KEYS:
        match = pattern.match(key)
        if match and RUN_ID_RE.match(match["run"]):
            return PartitionObject(kind, match["run"], match.groupdict().get("feed"))
    return None


def tombstone_key(url: str) -> str:
    return f"tombstones/{url_key(url)}.json"


def audit_key(at: dt.datetime, action: str) -> str:
    at = at.astimezone(dt.UTC)
    safe = re.sub(r"[^a-z0-9-]+", "-", action.lower()).strip("-")[:40] or "action"
    return f"audit/{at:%Y/%m/%d}/{at:%Y%m%dT%H%M%S%fZ}-{safe}.json"


CATALOG_KEY = "catalog/catalog.sqlite"
CATALOG_RUNS_PREFIX = "catalog/runs/"


def catalog_run_key(run: RunId) -> str:
    """An empty object per committed run: browse catalogs list these to index the runs their copy lacks."""
    return f"{CATALOG_RUNS_PREFIX}{run.value}"


CATALOG_INDEX_KEY = "catalog/index.json"  # run id -> the catalog piece holding it, and its version
CATALOG_PIECES_PREFIX = "catalog/pieces/"


def catalog_piece_key(name: str, version: str) -> str:
    """An immutable piece of the published catalog: one run's rows (``name``: the run id) or a month's
    (``month-YYYY-MM``); ``version``: hex digest of its content, so a rewrite never reuses a key."""
    named = RUN_ID_RE.match(name) or re.fullmatch(r"month-\d{4}-\d{2}", name)
    if not named or not re.fullmatch(r"[0-9a-f]{8,64}", version):
        raise UnsafeKeyError(f"not a catalog piece name/version: {name!r} {version!r}")
    return f"{CATALOG_PIECES_PREFIX}{name}/{version}.sqlite"


HEALTH_KEY = "health/feeds.json"  # every feed's health: feedvault.monitoring.health (derived from the run manifests)
RUNS_PREFIX = "runs/"
