import datetime as dt

import pytest

from feedvault.config import ConfigError, Politeness, load_registry, parse_registry

PERMISSION = {"basis": "own-content", "reference": "r", "granted_by": "us", "granted_on": "2026-01-01"}


def registry(**feed):
    return {
        "feeds": [
            {"id": "f1", "publisher": "P", "urls": ["https://example.test/rss"], "permission": PERMISSION, **feed}
        ]
    }


def test_valid_registry_round_trips_and_hash_is_stable():
    a = parse_registry(registry())
    b = parse_registry(registry())
    assert a.feed("f1").permission.status(dt.date(2026, 6, 1)) == "valid"
    assert a.config_hash() == b.config_hash()
    assert a.config_hash() != parse_registry(registry(language="id")).config_hash()


@pytest.mark.parametrize(
    ("feed", "where", "problem"),
    [
        ({"id": "Bad Id"}, "feeds.0.id", "pattern"),
        ({"urls": ["ftp://x/feed"]}, "feeds.0.urls", "http(s)"),
        ({"politeness": {"download_dealy": 1}}, "feeds.0.politeness", "download_dealy"),
        (
            {"cleaning": {"drop_patterns": ["(unclosed"]}},
            "feeds.0.cleaning.drop_patterns",
            "invalid regular expression",
        ),
        ({"permission": {**PERMISSION, "basis": "licence"}}, "feeds.0.permission", "licence id"),
        ({"permission": {**PERMISSION, "overrides": ["robots-txt"]}}, "feeds.0.permission", "written-permission"),
        ({"allow_private_network": ["not-a-net"]}, "feeds.0.allow_private_network", "not an IP network"),
    ],
)
def test_bad_config_names_file_field_and_problem(tmp_path, feed, where, problem):
    import yaml

    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump(registry(**feed)))
    with pytest.raises(ConfigError) as err:
        load_registry(path)
    message = str(err.value)
    assert str(path) in message and where in message and problem in message


def test_duplicate_ids_and_unknown_feed_are_clear():
    data = registry()
    data["feeds"].append(dict(data["feeds"][0]))
    with pytest.raises(ConfigError, match="duplicate feed id 'f1'"):
        parse_registry(data)
    with pytest.raises(ConfigError, match=r"unknown feed 'nope'.*f1"):
        parse_registry(registry()).feed("nope")


def test_unreadable_and_non_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read registry"):
        load_registry(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_registry(bad)


def test_env_references_expand_with_defaults():
    data = registry(urls=["${DEMO:-http://127.0.0.1:1}/rss", "${HOST}/atom"])
    reg = parse_registry(data, env={"HOST": "http://127.0.0.1:2"})
    assert reg.feed("f1").urls == ("http://127.0.0.1:1/rss", "http://127.0.0.1:2/atom")


def test_politeness_overrides_only_named_fields():
    reg = parse_registry(registry(politeness={"download_delay": 5}))
    effective = reg.feed("f1").effective_politeness(Politeness(download_delay=1, concurrency_per_domain=3))
    assert effective.download_delay == 5 and effective.concurrency_per_domain == 3


def test_permission_expiry_states():
    reg = parse_registry(registry(permission={**PERMISSION, "expires_on": "2026-03-01"}))
    record = reg.feed("f1").permission
    assert record.status(dt.date(2025, 12, 31)) == "not-yet-valid"
    assert record.status(dt.date(2026, 3, 1)) == "valid"
    assert record.status(dt.date(2026, 3, 2)) == "expired"


def test_package_exports_the_cleaner_lazily():
    import subprocess
    import sys

    code = "import sys, feedvault; assert 'trafilatura' not in sys.modules; print(feedvault.clean_html.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "feedvault.cleaning"
