"""A small synthetic news portal written into a directory: an RSS feed and article pages laid out like a real
portal (menu, article body, sidebar, footer), each article with its own text plus the publisher's recurring
lines (a promo the built-in rules do not know, a recurring short quote, a dateline). Synthetic text only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape
from pathlib import Path

PROMO = "Dapatkan kabar pilihan redaksi setiap pagi langsung di ponsel lewat aplikasi Warta Pesisir."
QUOTE = '"Kami tidak akan mundur," kata juru bicara nelayan.'
_PLACES = ("pelabuhan", "pasar ikan", "dermaga", "galangan kapal", "mercusuar", "teluk", "pulau", "muara")
_THINGS = ("jaring", "perahu", "cuaca", "harga", "jadwal", "tangkapan", "bibit", "pasang surut")
_ACTS = ("dibahas", "diperiksa", "dicatat", "diumumkan", "diperbaiki", "dilaporkan", "diuji", "dipantau")


@dataclass(frozen=True)
class PortalArticle:
    slug: str
    published: dt.datetime
    paragraphs: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"/berita/{self.slug}.html"

    @property
    def title(self) -> str:
        return self.paragraphs[0].split(",")[0].capitalize()


def article(n: int, published: dt.datetime, extra: tuple[str, ...] = (PROMO, QUOTE)) -> PortalArticle:
    """Article ``n``: four sentences of its own (distinct for every n), then ``extra`` recurring lines."""
    place, thing, act = _PLACES[n % 8], _THINGS[(n // 8) % 8], _ACTS[(n // 64) % 8]
    own = (
        f"Warga sekitar {place} nomor {n} mengatakan soal {thing} sudah lama {act} oleh pengurus kampung.",
        f"Rapat ke-{n} di balai {place} membahas {thing} bersama koperasi dan perwakilan dinas setempat.",
        f"Pengurus berjanji laporan tentang {thing} di {place} akan terbit sebelum akhir pekan ke-{n}.",
        f"Sebagian anggota koperasi nomor {n} meminta agar {thing} {act} ulang setelah musim angin barat.",
    )
    return PortalArticle(f"kabar-{n}", published, (*own[:2], *extra, *own[2:]))


def _page(item: PortalArticle) -> str:
    body = "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in item.paragraphs)
    return f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>{escape(item.title)} | Warta Pesisir</title>
<meta property="article:published_time" content="{item.published.isoformat()}"></head>
<body>
<header><nav><a href="/">Beranda</a> <a href="/berita/">Berita</a> <a href="/olahraga/">Olahraga</a></nav></header>
<main><article>
<h1>{escape(item.title)}</h1>
<div class="byline">Oleh Tim Redaksi</div>
<div class="content">
{body}
</div>
</article>
<aside><h3>Terpopuler</h3><ul><li><a href="/berita/a.html">Harga ikan naik lagi</a></li>
<li><a href="/berita/b.html">Jadwal kapal berubah</a></li></ul></aside></main>
<footer><p>Warta Pesisir, Jalan Dermaga 1. Kontak redaksi dan pedoman media siber.</p></footer>
</body></html>
"""


def write_portal(root: Path, articles: list[PortalArticle]) -> str:
    """Write the feed (``/rss.xml``, returned) and every article page under ``root``."""
    (root / "berita").mkdir(parents=True, exist_ok=True)
    items = []
    for item in articles:
        (root / item.path.lstrip("/")).write_text(_page(item), encoding="utf-8")
        items.append(
            f"<item><title>{escape(item.title)}</title><link>{{{{BASE_URL}}}}{item.path}</link>"
            f"<guid>{{{{BASE_URL}}}}{item.path}</guid>"
            f"<pubDate>{item.published.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
        )
    (root / "rss.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Warta Pesisir</title>'
        "<link>{{BASE_URL}}/</link><description>Fixture portal</description><language>id</language>"
        + "".join(items)
        + "</channel></rss>",
        encoding="utf-8",
    )
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    return "/rss.xml"
