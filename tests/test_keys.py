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
