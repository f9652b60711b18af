import pytest

from feedvault.crawl.netguard import NetworkPolicy, RefusedURL


def fake_resolver(table):
    return lambda host, port: table[host]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "unsupported-scheme"),
        ("data:text/html,hi", "unsupported-scheme"),
        ("ftp://example.test/x", "unsupported-scheme"),
        ("http://10.1.2.3/x", "private-address"),
        ("http://192.168.0.1/x", "private-address"),
        ("http://172.16.5.5/x", "private-address"),
        ("http://127.0.0.1:8080/x", "private-address"),
        ("http://[::1]/x", "private-address"),
        ("http://169.254.169.254/latest/meta-data", "private-address"),
        ("http://[fd00:ec2::254]/", "private-address"),
        ("http://100.64.1.1/", "private-address"),
        ("http://0.0.0.0/", "private-address"),
        ("http://[::ffff:10.0.0.1]/", "private-address"),
        ("http://rebind.test/", "private-address"),  # one public and one private answer
    ],
)
def test_refuses_non_public_destinations(url, reason, monkeypatch):
    monkeypatch.delenv("FEEDVAULT_LOOPBACK_ONLY", raising=False)
    policy = NetworkPolicy(resolver=fake_resolver({"rebind.test": ["93.184.216.34", "10.0.0.7"]}))
    with pytest.raises(RefusedURL) as err:
        policy.check(url)
    assert err.value.reason == reason


def test_public_address_passes_without_touching_the_network(monkeypatch):
    monkeypatch.delenv("FEEDVAULT_LOOPBACK_ONLY", raising=False)
    policy = NetworkPolicy(resolver=fake_resolver({"news.test": ["93.184.216.34"]}))
    assert policy.check("https://news.test/a") == ["93.184.216.34"]


def test_opt_in_allows_private_but_never_metadata(monkeypatch):
    monkeypatch.delenv("FEEDVAULT_LOOPBACK_ONLY", raising=False)
    policy = NetworkPolicy.from_setting(True)
    assert policy.check("http://127.0.0.1:9/x") == ["127.0.0.1"]
    with pytest.raises(RefusedURL):
        policy.check("http://169.254.169.254/")


def test_allowed_networks_narrow_the_opt_in():
    policy = NetworkPolicy.from_setting(["127.0.0.1/32"])
    assert policy.check("http://127.0.0.1:9/x")
    with pytest.raises(RefusedURL, match="not in the allowed networks"):
        policy.check("http://127.0.0.2:9/x")


def test_loopback_only_switch_refuses_everything_else(monkeypatch):
    monkeypatch.setenv("FEEDVAULT_LOOPBACK_ONLY", "1")
    policy = NetworkPolicy(allow_private=True, resolver=fake_resolver({"news.test": ["93.184.216.34"]}))
    with pytest.raises(RefusedURL, match="not-loopback"):
        policy.check("https://news.test/a")


def test_unresolvable_host_is_refused():
    def failing(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(RefusedURL, match="unresolvable"):
        NetworkPolicy(resolver=failing).check("http://nowhere.test/")


def test_the_crawler_resolves_each_host_once_per_run_off_the_reactor_thread():
    """The guard's DNS lookup runs in a thread (a hung resolver never blocks the reactor), once per host for the
    whole run; every feed still judges the shared answer by its own policy."""
    import asyncio
    import threading
    import time

    from scrapy import Request

    from spiders.middlewares import NetworkGuardMiddleware, PerHost, RefusedRequest

    lookups = []

    def slow_resolver(host: str, port: int) -> list[str]:
        lookups.append((host, port, threading.current_thread() is threading.main_thread()))
        time.sleep(0.05)  # concurrent requests for the host wait for this answer, they do not ask again
        return ["127.0.0.1"]

    addresses: PerHost[list[str]] = PerHost()  # one per run, shared by every feed's guard

    def guard(allow_private_network) -> NetworkGuardMiddleware:
        return NetworkGuardMiddleware(allow_private_network, addresses, resolver=slow_resolver)

    local_feed, public_feed = guard(["127.0.0.1/32"]), guard(False)

    async def crawl() -> None:
        requests = [Request(f"http://news.test:8080/a/{n}.html") for n in range(10)]
        await asyncio.gather(*(local_feed.process_request(r) for r in requests))
        assert all(r.meta["feedvault_addresses"] == ["127.0.0.1"] for r in requests)
        with pytest.raises(RefusedRequest, match="private-address"):
            await public_feed.process_request(Request("http://news.test:8080/b.html"))

    asyncio.run(crawl())
    assert lookups == [("news.test", 8080, False)]
