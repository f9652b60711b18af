import datetime as dt

import pytest

from feedvault import keys
from feedvault.keys import RunId, UnsafeKeyError


def test_url_key_is_stable_and_normalised():
    a = keys.url_key("HTTP://Example.test:80/a?b=1#frag")
    assert a == keys.url_key("http://example.test/a?b=1")
    assert a != keys.url_key("http://example.test/a?b=2")
    assert len(a) == 32 and a.isalnum()


def test_keys_never_contain_the_url_or_unsafe_segments():
    run = RunId.new(dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC), label="nightly")
    key = keys.clean_key("demo-id", run, "http://x.test/../../etc/passwd//a")
    assert key.startswith("clean/demo-id/2026/11/26/20261126T020000Z-nightly/")
    assert ".." not in key and "//" not in key and "passwd" not in key
    assert keys.raw_warc_key("demo-id", run, 7).endswith("20261126T020000Z-nightly-00007.warc.gz")
    with pytest.raises(UnsafeKeyError):
        keys.clean_key("../x", run, "http://x.test/")
    with pytest.raises(UnsafeKeyError):
        keys.url_key("http://user:secret@x.test/")


def test_run_id_validation_and_partition():
    with pytest.raises(UnsafeKeyError):
        RunId("2026-11-26")
    with pytest.raises(UnsafeKeyError):
        RunId("20261126T020000Z-../x")
    run = RunId("20261126T020000Z-manual")
    assert run.day == "2026/11/26"
    assert keys.partition_prefixes("f", run)[0] == "raw/f/2026/11/26/20261126T020000Z-manual-"


def test_url_variants_of_one_article_normalise_to_one_form():
    one = "http://news.test/a/v.html?a=1&b=2"
    variants = [
        "http://news.test/a/./v.html?a=1&b=2",
        "http://news.test/a/%76.html?a=1&b=2",
        "HTTP://News.Test:80/a/x/../v.html?b=2&a=1",
        "http://news.test/a/v.html?a=1&utm_source=newsletter&b=2&UTM_Medium=email",
        "http://news.test/a/v.html?fbclid=XYZ&a=1&gclid=1&b=2&mc_cid=3#comments",
    ]
    assert {keys.normalize_url(v) for v in variants} == {one}
    assert len({keys.url_key(v) for v in [one, *variants]}) == 1
    # Parameters that select content stay, and so do look-alikes of tracking names.
    assert keys.normalize_url("http://news.test/a?id=7&utm=1&page=2") == "http://news.test/a?id=7&page=2&utm=1"
    assert keys.normalize_url("http://news.test") == "http://news.test/"


def test_a_url_already_in_normal_form_is_recognised_without_canonicalising_it(monkeypatch):
    """URLs the catalog indexes are mostly normalised already: those of the plain shape cost a regular expression,
    not w3lib's canonicalisation (about 30 us, the largest part of indexing a snapshot)."""

    def refuse(url: str, *args: object, **kwargs: object) -> str:
        raise AssertionError(f"canonicalised {url}")

    keys.normalize_url.cache_clear()
    monkeypatch.setattr(keys, "canonicalize_url", refuse)
    try:
        for url in ("https://news.test/2026/11/26/a-story_1.html", "http://127.0.0.1/~x/", "https://a.b.test/"):
            assert keys.normalize_url(url) == url
        with pytest.raises(AssertionError):
            keys.normalize_url("https://news.test/a?id=1")
    finally:
        keys.normalize_url.cache_clear()


def test_what_counts_as_normal_form_is_what_canonicalising_leaves_unchanged():
    import random
    import string

    rng = random.Random(15)
    pieces = [*string.ascii_letters, *string.digits, *"._~-/", "/", ".", "..", "%41", "?", "#f", " ", "é", ";", "@"]
    hosts = ["news.test", "a-b.x1.test", "127.0.0.1", "xn--bcher-kva.test", "News.test", "a..b", "a.test.", "a.test:80"]
    urls = [
        f"{rng.choice(['http', 'https', 'HTTP'])}://{rng.choice(hosts)}/"
        + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 16)))
        for _ in range(5000)
    ]
    urls += ["https://a.test/./", "https://a.test/a/..", "https://a.test/a//b", "https://a.test/..a", "http://a.test"]
    recognised = [url for url in urls if keys._IN_NORMAL_FORM.fullmatch(url)]
    assert len(recognised) > 300
    assert [url for url in recognised if keys._canonical_form(url) != url] == []
    assert not keys._IN_NORMAL_FORM.fullmatch("https://a.test/a/..")


def test_tracking_parameters_are_data():
    names, prefixes = keys.tracking_parameters()
    assert "utm_" in prefixes and {"fbclid", "gclid", "msclkid"} <= names
    assert all(name == name.lower() for name in names)


@pytest.mark.parametrize(
    ("fetched", "hrefs", "identity", "ignored"),
    [
        ("https://news.example.co.uk/a?v=2", ["/a"], "https://news.example.co.uk/a", None),
        ("https://m.example.co.uk/amp/a", ["https://www.example.co.uk/a"], "https://www.example.co.uk/a", None),
        ("https://news.example.co.uk/a", ["https://example.com/a"], "https://news.example.co.uk/a", "cross-site"),
        ("https://alice.github.io/post", ["https://bob.github.io/post"], "https://alice.github.io/post", "cross-site"),
        ("http://127.0.0.1:8000/a?v=2", ["http://localhost:8000/a"], "http://127.0.0.1:8000/a?v=2", "cross-site"),
        ("https://example.com/a", ["ftp://example.com/a"], "https://example.com/a", "not-http"),
        ("https://example.com/a", ["javascript:void(0)"], "https://example.com/a", "not-http"),
        ("https://example.com/a", ["http://[broken/a"], "https://example.com/a", "malformed"),
        ("https://example.com/a?v=2", ["/a", "/b"], "https://example.com/a?v=2", "several"),
        ("https://example.com/a?v=2", ["/a", "https://example.com/a#top"], "https://example.com/a", None),
        ("https://example.com/a", [], "https://example.com/a", None),
        ("https://example.com/news/2026/a.html", ["/"], "https://example.com/news/2026/a.html", "section-page"),
        ("https://example.com/news/2026/a.html", ["/news/"], "https://example.com/news/2026/a.html", "section-page"),
        ("https://example.com/news/?page=2", ["/news/"], "https://example.com/news/", None),  # a listing's own
    ],
)
def test_a_same_site_canonical_link_is_the_identity_and_others_are_ignored_with_a_reason(
    fetched, hrefs, identity, ignored
):
    """Same site = same registrable domain (the Public Suffix List, private suffixes such as github.io included);
    an IP address or a bare host name is its own site."""
    found = keys.canonical_identity(fetched, hrefs)
    assert found.url == identity
    assert (found.canonical or {}).get("ignored") == ignored
