"""A synthetic publisher that changes between runs, for the feed-health tests.

:class:`ChangingPublisher` writes a small news site (an RSS feed and article pages laid out like a portal: nav,
article body, related links, footer) into a directory served by :class:`~feedvault.demo.server.SiteServer`, and
can then change it the ways real publishers do: publish more articles, redesign its article pages (the text moves
into a script the browser renders, so the page's HTML has a teaser and menus only), stop publishing, reserve TDM
rights in ``/.well-known/tdmrep.json``, or answer 500 everywhere. All text is generated here.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path

from feedvault.demo.server import SiteServer

WORDS = [
    "council",
    "harbour",
    "bridge",
    "rainfall",
    "market",
    "school",
    "river",
    "budget",
    "festival",
    "railway",
    "clinic",
    "library",
    "ferry",
    "district",
    "farmers",
    "volunteers",
    "engineers",
    "residents",
    "mayor",
    "committee",
    "inspection",
    "schedule",
    "repairs",
    "funding",
    "season",
    "weather",
    "station",
    "village",
    "coast",
    "road",
    "water",
    "power",
    "supply",
    "storm",
    "visitors",
    "museum",
    "exhibition",
    "students",
    "teachers",
    "report",
]
NAV = ["Home", "News", "Business", "Sport", "Culture", "Weather", "Opinion", "Video", "Contact", "Subscribe"]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(12, 20))]
    return " ".join(words).capitalize() + "."


@dataclass
class ChangingPublisher:
    root: Path
    seed: int = 7
    layout: str = "classic"  # classic | redesigned
    articles: list[tuple[str, str, dt.datetime]] = field(default_factory=list)  # (slug, title, published)
    _failing: list[str] = field(default_factory=list)  # paths answering 500

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "articles").mkdir(exist_ok=True)
        self._rng = random.Random(self.seed)
        self._write_feed()

    # -- changes ------------------------------------------------------------------------------------------
    def publish(self, n: int, at: dt.datetime) -> list[str]:
        """Add ``n`` articles dated ``at``; returns their paths."""
        paths = []
        for _ in range(n):
            slug = f"story-{len(self.articles) + 1:03d}"
            title = " ".join(self._rng.choice(WORDS) for _ in range(5)).title()
            self.articles.append((slug, title, at))
            self._write_article(slug, title)
            paths.append(f"/articles/{slug}.html")
        self._write_feed()
        return paths

    def redesign(self) -> None:
        """New article template from now on: the story text is in a JSON blob a script renders."""
        self.layout = "redesigned"

    def reserve_tdm(self) -> None:
        well_known = self.root / ".well-known"
        well_known.mkdir(exist_ok=True)
        rules = [{"location": "/*", "tdm-reservation": 1, "tdm-policy": "https://publisher.test/tdm-policy.json"}]
        (well_known / "tdmrep.json").write_text(json.dumps(rules))

    def answer_500(self, server: SiteServer) -> None:
        """Every path of the site (robots.txt, the feed, each article) answers 500 from now on."""
        paths = ["/robots.txt", "/feed.xml", "/.well-known/tdmrep.json"]
        paths += [f"/articles/{slug}.html" for slug, _t, _p in self.articles]
        for path in paths:
            server.set_route(path, {"status": 500})
        self._failing = paths

    def recover(self, server: SiteServer) -> None:
        """Back to normal after :meth:`answer_500`."""
        for path in self._failing:
            server.set_route(path, None)
        self._failing = []

    # -- files --------------------------------------------------------------------------------------------
    def _write_article(self, slug: str, title: str) -> None:
        paragraphs = [" ".join(sentence(self._rng) for _ in range(4)) for _ in range(5)]
        nav = "".join(f'<li><a href="/{n.lower()}/">{n}</a></li>' for n in NAV)
        related = "".join(
            f'<li><a href="/articles/other-{i}.html">{sentence(self._rng)[:40]}</a></li>' for i in range(4)
        )
        if self.layout == "classic":
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
            main = f'<article><h1>{title}</h1><p class="byline">By the Fixture Desk</p>{body}</article>'
        else:
            blob = json.dumps({"title": title, "paragraphs": paragraphs})
            main = (
                f'<div id="app" data-title="{title}"><p>Loading…</p></div>'
                f'<script type="application/json" id="story">{blob}</script>'
                "<script>/* renders #story into #app */</script>"
            )
        html = (
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body>'
            f"<header><nav><ul>{nav}</ul></nav></header><main>{main}</main>"
            f"<aside><h2>Related</h2><ul>{related}</ul></aside>"
            "<footer><p>Fixture Gazette, 1 Example Street</p><ul>"
            + "".join(f'<li><a href="/{n.lower()}/">{n}</a></li>' for n in NAV)
            + "</ul></footer></body></html>"
        )
        (self.root / "articles" / f"{slug}.html").write_text(html, encoding="utf-8")

    def _write_feed(self) -> None:
        items = "".join(
            f"<item><title>{title}</title><link>{{{{BASE_URL}}}}/articles/{slug}.html</link>"
            f'<guid isPermaLink="false">{slug}</guid><pubDate>{format_datetime(published)}</pubDate></item>'
            for slug, title, published in reversed(self.articles)
        )
        (self.root / "feed.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Fixture Gazette</title>'
            f"<link>{{{{BASE_URL}}}}/</link><description>A publisher that changes</description>{items}"
            "</channel></rss>",
            encoding="utf-8",
        )
