"""Page and feed templates for the demo publisher, and the synthetic bench site generator.

Two fictional portals share one host: *Kabar Nusantara* (Indonesian, ``/id/``) and *Harbour Courier*
(English, ``/en/``). All text is synthetic. Absolute URLs use the ``{{BASE_URL}}`` placeholder, which
:class:`feedvault.demo.server.SiteServer` replaces when serving.

* :func:`build_demo_site` renders the committed demo site (``feedvault/demo/site``) from the hand-written
  :data:`DEMO_ARTICLES`; run ``python -m feedvault.demo.synth demo`` after editing them.
* :func:`generate_site` writes a large deterministic bench site with the same templates:
  ``python -m feedvault.demo.synth bench OUT_DIR -n 2000 --seed 0``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import functools
import json
import random
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import yaml

from feedvault.demo.paths import DEMO_SITE

BASE = "{{BASE_URL}}"

WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
GMT = dt.UTC
READ_ALSO_AFTER = (1, 3)  # inline "read also" links follow these body paragraphs
BENCH_URL_ENV = "FEEDVAULT_BENCH_URL"
BENCH_DEFAULT_URL = "http://127.0.0.1:8766"


# ---------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Portal:
    """One fictional publisher: naming, sections and the localised strings of its templates."""

    lang: str
    name: str
    short: str
    prefix: str
    article_dir: str
    tz: dt.timezone
    tz_label: str
    tagline: str
    sections: tuple[tuple[str, str], ...]  # (slug, label)
    day_names: tuple[str, ...]
    month_names: tuple[str, ...]
    date_format: str
    dateline: str  # prefix of the first paragraph; {city} / {CITY}
    caption: str  # figcaption; {caption} {short} {photographer}
    byline: str | None  # under the headline; {author}
    read_also: str
    source: str | None  # source line label; {source}
    credits: tuple[str, ...]  # credit lines; {author} {editor}
    copyright: str  # {year}
    notice: str
    labels: dict[str, str] = field(default_factory=dict)
    comment_pool: tuple[tuple[str, str], ...] = ()
    feed_path: str = ""
    feed_type: str = "application/rss+xml"

    def format_date(self, moment: dt.datetime) -> str:
        local = moment.astimezone(self.tz)
        return self.date_format.format(
            day=self.day_names[local.weekday()],
            d=local.day,
            month=self.month_names[local.month - 1],
            y=local.year,
            time=local.strftime("%H:%M"),
            tz=self.tz_label,
        )

    def section_label(self, slug: str) -> str:
        return dict(self.sections)[slug]


@dataclass(frozen=True)
class Article:
    """One article; ``paragraphs[0]`` follows the dateline, ``sentinel`` must survive text cleaning."""

    portal: str
    uid: int
    slug: str
    section: str
    title: str
    summary: str
    published: dt.datetime
    dateline: str
    paragraphs: tuple[str, ...]
    author: str
    editor: str
    caption: str
    photographer: str
    tags: tuple[str, ...]
    source: str | None = None
    sentinel: str = ""

    @property
    def site(self) -> Portal:
        return PORTALS[self.portal]

    @property
    def path(self) -> str:
        day = self.published.astimezone(self.site.tz)
        return f"{self.site.prefix}/{self.site.article_dir}/{day:%Y/%m/%d}/{self.slug}.html"

    @property
    def url(self) -> str:
        return BASE + self.path


KABAR = Portal(
    lang="id",
    name="Kabar Nusantara",
    short="KABAR",
    prefix="/id",
    article_dir="berita",
    tz=WIB,
    tz_label="WIB",
    tagline="Berita terkini dari seluruh Nusantara",
    sections=(
        ("terkini", "Terkini"),
        ("daerah", "Daerah"),
        ("ekonomi", "Ekonomi"),
        ("dunia", "Dunia"),
        ("tekno", "Tekno"),
        ("humaniora", "Humaniora"),
        ("olahraga", "Olahraga"),
    ),
    day_names=("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
    month_names=(
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ),
    date_format="{day}, {d} {month} {y} {time} {tz}",
    dateline="{city} (KABAR) - ",
    caption="Arsip foto - {caption} ({short}/{photographer})",
    byline=None,
    read_also="Baca juga:",
    source="Sumber: {source}",
    credits=("Pewarta : {author}", "Editor: {editor}"),
    copyright="COPYRIGHT © KABAR {year}",
    notice=(
        "Dilarang keras mengambil konten, melakukan crawling atau pengindeksan otomatis untuk AI di situs web "
        "ini tanpa izin tertulis dari Kabar Nusantara."
    ),
    labels={
        "home": "Beranda",
        "related": "Berita Terkait",
        "popular": "Terpopuler",
        "latest": "Berita Terbaru",
        "comments": "Komentar",
        "comment_prompt": "Tulis komentar Anda",
        "send": "Kirim",
        "tags": "Tag:",
        "share": "Bagikan:",
        "search": "Cari",
        "search_prompt": "Cari berita...",
        "section": "kanal",
        "tag": "tag",
        "about": "Tentang Kami",
        "desk": "Redaksi",
        "guidelines": "Pedoman Media Siber",
        "privacy": "Kebijakan Privasi",
        "contact": "Kontak",
        "careers": "Karier",
        "advert": "Iklan",
        "footer": "Kabar Nusantara adalah portal berita fiktif untuk demo feedvault.",
    },
    comment_pool=(
        ("Rahmat_88", "Semoga kegiatan seperti ini terus didukung pemerintah daerah."),
        ("dewi.lestari", "Informasinya jelas, terima kasih sudah meliput sampai ke lapangan."),
        ("Bang Oji", "Di kampung saya juga perlu program yang sama, semoga segera menyusul."),
        ("sari_wulan", "Mohon diliput juga perkembangan berikutnya ya."),
        ("Pak Darto", "Yang penting pelaksanaannya tepat sasaran dan transparan."),
    ),
    feed_path="/id/rss.xml",
)

HARBOUR = Portal(
    lang="en",
    name="Harbour Courier",
    short="Harbour Courier",
    prefix="/en",
    article_dir="news",
    tz=GMT,
    tz_label="GMT",
    tagline="News from the harbour towns",
    sections=(
        ("news", "News"),
        ("business", "Business"),
        ("environment", "Environment"),
        ("community", "Community"),
        ("politics", "Politics"),
        ("sport", "Sport"),
    ),
    day_names=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    month_names=(
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    date_format="{day} {d} {month} {y}, {time} {tz}",
    dateline="{CITY} — ",
    caption="{caption} ({short}/{photographer})",
    byline="By {author}",
    read_also="Read more:",
    source=None,
    credits=("Reporter: {author} / Editor: {editor}",),
    copyright="© {year} Harbour Courier. All rights reserved.",
    notice=(
        "No part of this article may be reproduced or used to train artificial intelligence systems without "
        "written permission."
    ),
    labels={
        "home": "Home",
        "related": "Related stories",
        "popular": "Most read",
        "latest": "Latest news",
        "comments": "Comments",
        "comment_prompt": "Join the conversation",
        "send": "Post",
        "tags": "Topics:",
        "share": "Share:",
        "search": "Search",
        "search_prompt": "Search the Courier",
        "section": "section",
        "tag": "topic",
        "about": "About us",
        "desk": "Contact the newsroom",
        "guidelines": "Editorial code",
        "privacy": "Privacy notice",
        "contact": "Contact",
        "careers": "Jobs",
        "advert": "Advertise",
        "footer": "Harbour Courier is a fictional newspaper written for the feedvault demo.",
    },
    comment_pool=(
        ("quayside_pete", "About time somebody looked into this properly."),
        ("MaggieB", "Good to see local reporting on this, thank you."),
        ("old_salt_1954", "We had the same argument back in the eighties and nothing changed."),
        ("harbourwatcher", "Would be interesting to see the numbers again next year."),
        ("Dai from the Bay", "Fair play to everyone involved."),
    ),
    feed_path="/en/atom.xml",
    feed_type="application/atom+xml",
)

PORTALS = {"id": KABAR, "en": HARBOUR}


# ---------------------------------------------------------------------------------------------------------------
# Page templates
# ---------------------------------------------------------------------------------------------------------------


def _e(text: str) -> str:
    return escape(text, quote=True)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


@functools.cache
def _inline_css() -> str:
    """A portal-sized inline stylesheet (full chrome only)."""
    rng = random.Random("css")
    blocks = ("header", "nav", "menu", "card", "post", "teaser", "rail", "footer", "ad", "share", "tag", "list")
    parts = []
    for block in blocks:
        for element in ("", "__title", "__link", "__meta", "__image", "__body", "--featured", "--compact"):
            props = ";".join(
                f"{prop}:{rng.choice(values)}"
                for prop, values in (
                    ("margin", ("0", "0 auto", "4px 0", "8px 12px")),
                    ("padding", ("0", "6px", "8px 16px", "12px 0 4px")),
                    ("font-size", (".75rem", ".875rem", "1rem", "1.25rem")),
                    ("color", ("#111", "#333", "#b00020", "#0b4f8a", "#666")),
                    ("display", ("block", "flex", "grid", "inline-block")),
                    ("line-height", ("1.2", "1.4", "1.6")),
                )
            )
            parts.append(f".{block}{element}{{{props}}}")
            parts.append(f"@media (min-width:768px){{.{block}{element}{{max-width:{rng.randint(200, 960)}px}}}}")
    return "\n".join(parts)


@functools.cache
def _svg_sprite() -> str:
    """An inline icon sprite like portals embed (full chrome only)."""
    rng = random.Random("icons")
    icons = ("search", "menu", "close", "share", "mail", "print", "clock", "user", "comment", "play", "camera")
    symbols = []
    for name in icons:
        points = " ".join(
            f"L{rng.randint(0, 24)}.{rng.randint(0, 99)} {rng.randint(0, 24)}.{rng.randint(0, 99)}" for _ in range(60)
        )
        symbols.append(f'<symbol id="icon-{name}" viewBox="0 0 24 24"><path d="M12 2 {points} Z"/></symbol>')
    return '<svg xmlns="http://www.w3.org/2000/svg" style="display:none">' + "".join(symbols) + "</svg>"


_ANALYTICS = (
    "<script>window.dataLayer=window.dataLayer||[];function track(){dataLayer.push(arguments)}"
    "track('init',{site:'demo',consent:'pending'});</script>"
)
_FULL_SCRIPTS = (
    "<script>(function(){var q=window.adq=window.adq||[];document.querySelectorAll('.ad-slot').forEach("
    "function(el){q.push({slot:el.dataset.slot,size:el.dataset.size,lazy:true})});"
    "window.addEventListener('scroll',function(){var h=document.querySelector('.site-header');"
    "if(h){h.classList.toggle('is-sticky',window.scrollY>120)}},{passive:true});})();</script>",
    "<script>window.addEventListener('load',function(){var s=document.createElement('script');"
    "s.async=true;s.src='/static/comments.js';document.body.appendChild(s)});</script>",
)


@functools.cache
def _nav(portal: Portal, full: bool) -> str:
    items = [f'<li class="nav__item"><a class="nav__link" href="{portal.prefix}/">{portal.labels["home"]}</a></li>']
    for slug, label in portal.sections:
        href = f"{portal.prefix}/{portal.labels['section']}/{slug}"
        sub = ""
        if full:
            links = "".join(
                f'<li><a class="menu__link" href="{href}/{slug}-{n}" data-track="nav-{slug}-{n}">{label} {n}</a></li>'
                for n in range(1, 9)
            )
            sub = f'<ul class="menu menu--{slug}" hidden>{links}</ul>'
        items.append(f'<li class="nav__item"><a class="nav__link" href="{href}">{label}</a>{sub}</li>')
    return f'<nav class="nav main-nav" aria-label="{portal.name}"><ul class="nav__list">{"".join(items)}</ul></nav>'


@functools.cache
def _header(portal: Portal, full: bool) -> str:
    labels = portal.labels
    return (
        '<header class="site-header">\n'
        f'<div class="topbar"><span class="topbar__tagline">{portal.tagline}</span> '
        f'<a class="topbar__rss" href="{BASE}{portal.feed_path}">RSS</a></div>\n'
        f'<div class="masthead"><a class="logo" href="{portal.prefix}/">{portal.name}</a>\n'
        f'<form class="search" action="{portal.prefix}/search" role="search">'
        f'<input type="search" name="q" placeholder="{labels["search_prompt"]}">'
        f'<button type="submit">{labels["search"]}</button></form></div>\n'
        f"{_nav(portal, full)}\n</header>"
    )


@functools.cache
def _footer(portal: Portal, full: bool) -> str:
    labels = portal.labels
    legal = "".join(
        f'<li><a href="{portal.prefix}/{key}">{labels[key]}</a></li>'
        for key in ("about", "desk", "guidelines", "privacy", "contact", "careers", "advert")
    )
    sections = "".join(
        f'<li><a href="{portal.prefix}/{labels["section"]}/{slug}">{label}</a></li>' for slug, label in portal.sections
    )
    network = ""
    if full:
        network = '<div class="footer__network"><h3>Network</h3><ul>' + "".join(
            f'<li><a href="/{other.prefix.strip("/")}/">{other.name}</a></li>' for other in PORTALS.values()
        )
        network += "".join(
            f'<li><a href="{portal.prefix}/{labels["section"]}/{slug}/archive-{n}">{label} {n}</a></li>'
            for slug, label in portal.sections
            for n in range(2019, 2027)
        )
        network += "</ul></div>"
    return (
        '<footer class="site-footer">\n'
        f'<div class="footer__brand"><a href="{portal.prefix}/">{portal.name}</a><p>{labels["footer"]}</p></div>\n'
        f'<ul class="footer__sections">{sections}</ul>\n<ul class="footer__legal">{legal}</ul>\n{network}'
        f'<p class="footer__copy">&copy; {portal.name}</p>\n</footer>'
    )


def _document(
    portal: Portal,
    *,
    title: str,
    description: str,
    canonical: str,
    main: str,
    head_extra: Sequence[str] = (),
    body_class: str = "page",
    full: bool = False,
    tail: Sequence[str] = (),
) -> str:
    """The shared page skeleton: head, header, ``main``, footer."""
    lines = [
        "<!DOCTYPE html>",
        f'<html lang="{portal.lang}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f'<meta name="description" content="{_e(description)}">',
        f'<link rel="canonical" href="{canonical}">',
        f'<link rel="alternate" type="{portal.feed_type}" title="{portal.name}" href="{BASE}{portal.feed_path}">',
        '<link rel="stylesheet" href="/static/site.css">',
        *head_extra,
        _ANALYTICS,
    ]
    if full:
        lines.append(f"<style>{_inline_css()}</style>")
    lines += ["</head>", f'<body class="{body_class}">']
    if full:
        lines.append(_svg_sprite())
    lines += [_header(portal, full), main, _footer(portal, full)]
    if full:
        lines += _FULL_SCRIPTS
    lines += [*tail, "</body>", "</html>", ""]
    return "\n".join(lines)


def _teaser(article: Article, with_summary: bool = False) -> str:
    summary = f'<p class="teaser__summary">{_e(article.summary)}</p>' if with_summary else ""
    return (
        f'<li class="teaser"><a class="teaser__link" href="{article.url}">{_e(article.title)}</a> '
        f'<time class="teaser__meta" datetime="{_iso(article.published)}">'
        f"{article.site.format_date(article.published)}</time>{summary}</li>"
    )


def _body(article: Article, related: Sequence[Article]) -> list[str]:
    portal = article.site
    city = article.dateline
    first = portal.dateline.format(city=city, CITY=city.upper()) + article.paragraphs[0]
    lines = [f"<p>{_e(first)}</p>"]
    links = iter(related)
    for index, paragraph in enumerate(article.paragraphs[1:], start=1):
        lines.append(f"<p>{_e(paragraph)}</p>")
        other = next(links, None) if index in READ_ALSO_AFTER and index < len(article.paragraphs) - 1 else None
        if other is not None:
            lines.append(
                f'<p class="read-also"><strong>{portal.read_also}</strong> '
                f'<a href="{other.url}">{_e(other.title)}</a></p>'
            )
    if portal.source and article.source:
        lines.append(f'<p class="source">{_e(portal.source.format(source=article.source))}</p>')
    credits = "<br>\n".join(_e(line.format(author=article.author, editor=article.editor)) for line in portal.credits)
    lines.append(f'<p class="credits">{credits}</p>')
    lines.append(f'<p class="copyright">{_e(portal.copyright.format(year=article.published.year))}</p>')
    lines.append(f'<p class="rights-notice"><em>{_e(portal.notice)}</em></p>')
    return lines


def _ad_slot(portal: Portal, article: Article, position: str) -> str:
    return (
        f'<div class="ad-slot" data-slot="/{portal.short.lower().replace(" ", "")}/{article.section}/{position}" '
        f'data-size="300x250"></div>'
    )


def _state_script(article: Article, latest: Sequence[Article]) -> str:
    """The hydration blob single-page portals inline (full chrome only)."""
    state = {
        "article": {"id": article.uid, "section": article.section, "tags": list(article.tags)},
        "latest": [
            {
                "id": other.uid,
                "title": other.title,
                "url": other.path,
                "summary": other.summary,
                "section": other.section,
                "published": _iso(other.published),
                "image": {"src": f"/static/photo.svg?w=640&id={other.uid}", "alt": other.caption},
            }
            for other in latest
        ],
    }
    blob = json.dumps(state, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f"<script>window.__PORTAL_STATE__={blob};</script>"


def _article_head(article: Article, published: str) -> list[str]:
    """The article page's metadata: author, keywords, Open Graph, article properties and JSON-LD."""
    portal = article.site
    return [
        f'<meta name="author" content="{_e(article.author)}">',
        f'<meta name="keywords" content="{_e(", ".join(article.tags))}">',
        '<meta property="og:type" content="article">',
        f'<meta property="og:site_name" content="{portal.name}">',
        f'<meta property="og:title" content="{_e(article.title)}">',
        f'<meta property="og:description" content="{_e(article.summary)}">',
        f'<meta property="og:url" content="{article.url}">',
        f'<meta property="og:image" content="{BASE}/static/photo.svg">',
        f'<meta property="og:locale" content="{"id_ID" if portal.lang == "id" else "en_GB"}">',
        f'<meta property="article:published_time" content="{published}">',
        f'<meta property="article:section" content="{portal.section_label(article.section)}">',
        *(f'<meta property="article:tag" content="{_e(tag)}">' for tag in article.tags),
        '<script type="application/ld+json">'
        + json.dumps(
            {
                "@type": "NewsArticle",
                "headline": article.title,
                "datePublished": published,
                "author": {"@type": "Person", "name": article.author},
                "publisher": {"@type": "Organization", "name": portal.name},
                "inLanguage": portal.lang,
                "mainEntityOfPage": article.url,
            },
            ensure_ascii=False,
        )
        + "</script>",
    ]


def _article_post(article: Article, related: Sequence[Article], published: str) -> list[str]:
    """The breadcrumb and the ``<article>``: headline, date and byline, share links, photo, body, tags."""
    portal = article.site
    labels = portal.labels
    section_href = f"{portal.prefix}/{labels['section']}/{article.section}"
    byline = f' <span class="byline">{_e(portal.byline.format(author=article.author))}</span>' if portal.byline else ""
    caption = portal.caption.format(caption=article.caption, short=portal.short, photographer=article.photographer)
    tags = " ".join(
        f'<a class="tag" href="{portal.prefix}/{labels["tag"]}/{_slugify(tag)}">{_e(tag)}</a>' for tag in article.tags
    )
    return [
        '<main class="container">',
        '<nav class="breadcrumb" aria-label="breadcrumb"><ol>'
        f'<li><a href="{portal.prefix}/">{labels["home"]}</a></li>'
        f'<li><a href="{section_href}">{portal.section_label(article.section)}</a></li>'
        f'<li aria-current="page">{_e(article.title)}</li></ol></nav>',
        '<div class="layout"><div class="layout__main">',
        '<article class="post">',
        '<header class="post__header">',
        f'<h1 class="post__title">{_e(article.title)}</h1>',
        f'<div class="post__meta"><time datetime="{published}">{portal.format_date(article.published)}</time>'
        f"{byline}</div>",
        f'<div class="share">{labels["share"]} <a href="#" data-share="facebook">Facebook</a> '
        '<a href="#" data-share="x">X</a> <a href="#" data-share="whatsapp">WhatsApp</a></div>',
        "</header>",
        f'<figure class="post__figure"><img src="/static/photo.svg" alt="{_e(article.caption)}" width="800" '
        f'height="450"><figcaption>{_e(caption)}</figcaption></figure>',
        '<div class="post__body">',
        *_body(article, related),
        "</div>",
        f'<div class="post__tags"><span>{labels["tags"]}</span> {tags}</div>',
        "</article>",
    ]


def _article_surroundings(
    article: Article, related: Sequence[Article], popular: Sequence[Article], full: bool
) -> list[str]:
    """What follows the article: related links, comments, the popular rail (and ads on a ``full`` page)."""
    portal = article.site
    labels = portal.labels
    comments = "".join(
        f'<li class="comment"><span class="comment__author">{_e(name)}</span> <p>{_e(text)}</p></li>'
        for name, text in _pick(portal.comment_pool, article.uid, 2)
    )
    return [
        *([_ad_slot(portal, article, "inarticle")] if full else []),
        f'<section class="related"><h2>{labels["related"]}</h2><ul class="list">'
        + "".join(_teaser(other, with_summary=full) for other in related)
        + "</ul></section>",
        f'<section class="comments" id="comments"><h2>{labels["comments"]}</h2>'
        f'<form class="comment-form" action="{portal.prefix}/comments" method="post">'
        f'<textarea name="comment" placeholder="{labels["comment_prompt"]}"></textarea>'
        f'<button type="submit">{labels["send"]}</button></form><ol class="comment-list">{comments}</ol></section>',
        "</div>",
        f'<aside class="layout__side rail"><section class="popular"><h2>{labels["popular"]}</h2><ol class="list">'
        + "".join(_teaser(other) for other in popular)
        + "</ol></section>"
        + (_ad_slot(portal, article, "sidebar") if full else "")
        + "</aside>",
        "</div>",
        "</main>",
    ]


def render_article(
    article: Article,
    related: Sequence[Article],
    popular: Sequence[Article],
    *,
    latest: Sequence[Article] = (),
    full: bool = False,
) -> str:
    """An article page in its portal's layout; ``full`` adds the heavy chrome of a production portal."""
    portal = article.site
    published = _iso(article.published)
    main = [*_article_post(article, related, published), *_article_surroundings(article, related, popular, full)]
    return _document(
        portal,
        title=f"{article.title} - {portal.name}",
        description=article.summary,
        canonical=article.url,
        main="\n".join(main),
        head_extra=_article_head(article, published),
        body_class="article-page",
        full=full,
        tail=[_state_script(article, latest)] if full else (),
    )


def render_home(portal: Portal, articles: Sequence[Article]) -> str:
    """A portal front page listing ``articles`` newest first."""
    teasers = "".join(_teaser(article, with_summary=True) for article in _newest_first(articles))
    main = (
        f'<main class="container"><h1 class="visually-hidden">{portal.name}</h1>'
        f'<section class="latest"><h2>{portal.labels["latest"]}</h2><ul class="list">{teasers}</ul></section></main>'
    )
    return _document(
        portal,
        title=f"{portal.name} - {portal.tagline}",
        description=portal.tagline,
        canonical=f"{BASE}{portal.prefix}/",
        main=main,
        body_class="home-page",
    )


def _plain_page(title: str, paragraphs: Iterable[str], lang: str = "en") -> str:
    body = "\n".join(f"<p>{text}</p>" for text in paragraphs)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
        f'<link rel="stylesheet" href="/static/site.css">\n</head>\n<body class="plain-page">\n<main class="container">'
        f"\n<h1>{_e(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------------------------------
# Feed templates
# ---------------------------------------------------------------------------------------------------------------


def _newest_first(articles: Iterable[Article]) -> list[Article]:
    return sorted(articles, key=lambda a: a.published, reverse=True)


def _guid(article: Article) -> str:
    return f"{article.site.short.lower().replace(' ', '-')}-{article.uid}"


def render_rss(
    *, title: str, link: str, description: str, self_url: str, articles: Sequence[Article], language: str | None
) -> str:
    """An RSS 2.0 feed with ``guid``, ``pubDate`` and ``dc:creator``."""
    items = _newest_first(articles)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">',
        "<channel>",
        f"<title>{_e(title)}</title>",
        f"<link>{link}</link>",
        f"<description>{_e(description)}</description>",
    ]
    if language:
        lines.append(f"<language>{language}</language>")
    if items:
        lines.append(f"<lastBuildDate>{email.utils.format_datetime(items[0].published)}</lastBuildDate>")
    lines.append(f'<atom:link href="{self_url}" rel="self" type="application/rss+xml"/>')
    for article in items:
        lines += [
            "<item>",
            f"<title>{_e(article.title)}</title>",
            f"<link>{article.url}</link>",
            f'<guid isPermaLink="false">{_guid(article)}</guid>',
            f"<pubDate>{email.utils.format_datetime(article.published)}</pubDate>",
            f"<dc:creator>{_e(article.author)}</dc:creator>",
            f"<category>{article.site.section_label(article.section)}</category>",
            f"<description>{_e(article.summary)}</description>",
            "</item>",
        ]
    lines += ["</channel>", "</rss>", ""]
    return "\n".join(lines)


def _urn(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'feedvault-demo:' + name)}"


def render_atom(portal: Portal, articles: Sequence[Article]) -> str:
    """An Atom 1.0 feed with ``id``, ``published`` and ``updated``."""
    entries = _newest_first(articles)
    updated = _iso(entries[0].published) if entries else "2026-01-01T00:00:00+00:00"
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{portal.lang}">',
        f"<title>{portal.name}</title>",
        f"<subtitle>{portal.tagline}</subtitle>",
        f'<link rel="alternate" type="text/html" href="{BASE}{portal.prefix}/"/>',
        f'<link rel="self" type="application/atom+xml" href="{BASE}{portal.feed_path}"/>',
        f"<id>{_urn(portal.prefix)}</id>",
        f"<updated>{updated}</updated>",
    ]
    for article in entries:
        lines += [
            "<entry>",
            f"<title>{_e(article.title)}</title>",
            f'<link rel="alternate" type="text/html" href="{article.url}"/>',
            f"<id>{_urn(article.path)}</id>",
            f"<published>{_iso(article.published)}</published>",
            f"<updated>{_iso(article.published)}</updated>",
            f"<author><name>{_e(article.author)}</name></author>",
            f'<category term="{article.section}" label="{portal.section_label(article.section)}"/>',
            f"<summary>{_e(article.summary)}</summary>",
            "</entry>",
        ]
    lines += ["</feed>", ""]
    return "\n".join(lines)


def render_sitemap(articles: Sequence[Article], *, news: bool) -> str:
    """A sitemap of ``articles``; ``news=True`` adds the Google News ``news:`` block per URL."""
    namespaces = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    if news:
        namespaces += ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<urlset {namespaces}>"]
    for article in _newest_first(articles):
        lines.append(f"<url><loc>{article.url}</loc><lastmod>{_iso(article.published)}</lastmod>")
        if news:
            lines.append(
                f"<news:news><news:publication><news:name>{article.site.name}</news:name>"
                f"<news:language>{article.site.lang}</news:language></news:publication>"
                f"<news:publication_date>{_iso(article.published)}</news:publication_date>"
                f"<news:title>{_e(article.title)}</news:title></news:news>"
            )
        lines.append("</url>")
    lines += ["</urlset>", ""]
    return "\n".join(lines)


def render_robots(sitemap_path: str, disallow: Sequence[str] = ("/private/",)) -> str:
    rules = "".join(f"Disallow: {path}\n" for path in disallow)
    return f"User-agent: *\n{rules}Allow: /\n\nSitemap: {BASE}{sitemap_path}\n"


STATIC_FILES = {
    "static/site.css": (
        "body{margin:0;font:16px/1.6 Georgia,serif;color:#222}.container{max-width:1100px;margin:0 auto;padding:0 16px}"
        "\n.site-header{border-bottom:3px solid #0b4f8a}.nav__list{display:flex;gap:12px;list-style:none;padding:0}"
        "\n.layout{display:grid;grid-template-columns:1fr 300px;gap:32px}.post__title{font-size:2rem;line-height:1.2}"
        "\n.read-also{border-left:4px solid #0b4f8a;padding-left:8px}.credits,.copyright,.rights-notice{color:#666}"
        "\n.breadcrumb ol{display:flex;gap:8px;list-style:none;padding:0}.visually-hidden{position:absolute;left:-9999px}"
        "\n"
    ),
    "static/photo.svg": (
        '<svg xmlns="http://www.w3.org/2000/svg" width="800" height="450" viewBox="0 0 800 450">'
        '<rect width="800" height="450" fill="#9bb7d4"/><path d="M0 330 Q200 280 400 330 T800 330 V450 H0Z" '
        'fill="#0b4f8a"/><circle cx="640" cy="110" r="50" fill="#f6d365"/></svg>\n'
    ),
}


def _write(root: Path, relative: str, text: str | bytes) -> Path:
    target = root / relative.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8", newline="\n")
    return target


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _pick(items: Sequence[tuple[str, str]], start: int, count: int) -> list[tuple[str, str]]:
    return [items[(start + n) % len(items)] for n in range(count)]


def _neighbours(articles: Sequence[Article], index: int, count: int, offset: int = 1) -> list[Article]:
    """Up to ``count`` articles other than ``articles[index]``, starting ``offset`` after it (wrapping)."""
    total = len(articles)
    picked = (articles[(index + offset + step) % total] for step in range(total))
    return [other for other in picked if other is not articles[index]][:count]


def _permission(reference: str, granted_by: str) -> dict[str, object]:
    return {
        "basis": "own-content",
        "reference": reference,
        "granted_by": granted_by,
        "granted_on": dt.date(2026, 1, 1),
    }


# ---------------------------------------------------------------------------------------------------------------
# The committed demo site
# ---------------------------------------------------------------------------------------------------------------


def _article(portal: str, uid: int, when: str, slug: str, section: str, **text: Any) -> Article:
    """A hand-written demo article published at ``when`` ("DD HH:MM" in November 2026, portal time)."""
    day, clock = when.split()
    hour, minute = (int(part) for part in clock.split(":"))
    published = dt.datetime(2026, 11, int(day), hour, minute, tzinfo=PORTALS[portal].tz)
    return Article(portal=portal, uid=uid, slug=slug, section=section, published=published, **text)


DEMO_ARTICLES: tuple[Article, ...] = (
    _article(
        "id",
        4510231,
        "24 08:15",
        "festival-layang-layang-pantai-padang-ditunda",
        "daerah",
        title="Festival Layang-Layang Pantai Padang Ditunda karena Angin Kencang",
        summary="Panitia menunda acara puncak festival selama dua hari setelah stasiun cuaca memperingatkan "
        "hembusan angin kencang di pesisir.",
        dateline="Padang",
        paragraphs=(
            "Panitia Festival Layang-Layang Pantai Padang memutuskan menunda acara puncak yang semula dijadwalkan "
            "Selasa sore menjadi Kamis, setelah stasiun cuaca setempat memperingatkan hembusan angin hingga 45 "
            "kilometer per jam di sepanjang pesisir.",
            "Ketua panitia, Yuliana Marpaung, mengatakan keputusan itu diambil demi keselamatan peserta dan penonton. "
            '"Layang-layang raksasa kami butuh angin, tetapi bukan angin yang bisa menyeret orang ke laut," ujarnya '
            "di posko panitia.",
            "Sebanyak 112 tim dari 14 kabupaten telah mendaftar tahun ini, termasuk enam tim tamu dari Malaysia dan "
            "Thailand. Layang-layang terbesar berbentuk ikan bilih sepanjang 18 meter, dibuat oleh kelompok pemuda "
            "dari tepi Danau Singkarak.",
            "Pedagang kaki lima yang sudah menyewa lapak di sepanjang Jalan Samudera diberi kompensasi berupa "
            "perpanjangan izin berjualan selama tiga malam tanpa biaya tambahan. Sebagian pedagang memilih tetap "
            "membuka lapak karena pengunjung masih berdatangan.",
            "Dinas Pariwisata Kota Padang memperkirakan festival tersebut menarik sekitar 40.000 pengunjung setiap "
            "hari. Kepala bidang promosi, Hendra Saputra, menyebut penundaan dua hari tidak akan mengurangi minat "
            "warga karena jadwal baru jatuh menjelang akhir pekan.",
            "Panitia meminta masyarakat memantau pengumuman resmi melalui radio komunitas dan papan informasi di "
            "kawasan Muaro Lasak, karena jadwal masih dapat berubah apabila cuaca kembali memburuk.",
        ),
        author="Rizky Ananda",
        editor="Sri Mulyani Hartono",
        caption="Peserta menyiapkan layang-layang raksasa di Pantai Padang",
        photographer="Andika Putra",
        tags=("festival", "Padang", "cuaca"),
        sentinel="Pedagang kaki lima yang sudah menyewa lapak di sepanjang Jalan Samudera diberi kompensasi berupa "
        "perpanjangan izin berjualan selama tiga malam tanpa biaya tambahan.",
    ),
    _article(
        "id",
        4510388,
        "24 14:40",
        "mahasiswa-indonesia-di-ankara-gelar-pameran-batik-keliling",
        "dunia",
        title="Mahasiswa Indonesia di Ankara Gelar Pameran Batik Keliling",
        summary="Perhimpunan mahasiswa Indonesia di Ankara membawa 60 lembar batik ke tiga kampus dalam pameran "
        "keliling selama sepekan.",
        dateline="Ankara",
        paragraphs=(
            "Perhimpunan mahasiswa Indonesia di Ankara membuka pameran batik keliling yang akan singgah di tiga kampus "
            "selama sepekan, dimulai dari perpustakaan pusat sebuah universitas negeri di ibu kota Turki itu pada "
            "Senin.",
            "Koordinator pameran, Nadia Kusumawardani, mengatakan 60 lembar kain yang dipamerkan dipinjam dari koleksi "
            'pribadi mahasiswa dan keluarga mereka. "Setiap kain punya cerita perjalanan sendiri, ada yang dibawa '
            'nenek saat pindah ke Eropa puluhan tahun lalu," katanya.',
            "Selain memajang kain, panitia menggelar lokakarya membatik dengan canting dan malam yang dikirim dari "
            "Pekalongan. Kuota 30 peserta untuk sesi pertama habis dalam dua jam setelah pendaftaran dibuka secara "
            "daring.",
            "Seorang pengunjung asal Konya, Elif Aydın, mengaku baru tahu bahwa motif parang tidak boleh dipotong "
            "sembarangan karena polanya harus tetap bersambung. Ia berencana kembali untuk mengikuti lokakarya pada "
            "akhir pekan.",
            "Panitia berencana membawa pameran ke Istanbul pada awal tahun depan apabila pendanaan dari paguyuban "
            "warga Indonesia di Turki terkumpul.",
        ),
        author="Laras Setyaningrum",
        editor="Bambang Wicaksono",
        caption="Pengunjung mengamati kain batik dalam pameran di Ankara",
        photographer="Laras Setyaningrum",
        tags=("batik", "Turki", "mahasiswa"),
        source="Kantor Berita Meridian",
        sentinel="Seorang pengunjung asal Konya, Elif Aydın, mengaku baru tahu bahwa motif parang tidak boleh "
        "dipotong sembarangan karena polanya harus tetap bersambung.",
    ),
    _article(
        "id",
        4510502,
        "25 07:05",
        "pelabuhan-makassar-uji-coba-antrean-truk-digital",
        "ekonomi",
        title="Pelabuhan Makassar Uji Coba Antrean Truk Digital",
        summary="Sistem pemesanan slot kedatangan truk diuji di terminal peti kemas untuk mengurai kemacetan di "
        "sekitar pelabuhan.",
        dateline="Makassar",
        paragraphs=(
            "Pengelola terminal peti kemas di Pelabuhan Makassar mulai menguji sistem antrean truk berbasis aplikasi "
            "untuk mengurai kemacetan yang kerap mengular hingga Jalan Nusantara pada jam sibuk.",
            "Manajer operasional terminal, Rudi Pangaribuan, menjelaskan sopir kini memesan slot kedatangan dua jam "
            "sebelumnya dan menerima kode yang dipindai di gerbang. Truk yang datang di luar slot diminta menunggu di "
            "kantong parkir di kawasan Untia.",
            "Pada hari pertama uji coba, waktu tunggu rata-rata truk di depan gerbang turun dari 95 menit menjadi 38 "
            "menit, menurut catatan petugas terminal.",
            "Namun sejumlah sopir mengeluhkan sinyal seluler yang lemah di kantong parkir. Ikhsan Latief, sopir truk "
            "pengangkut semen, mengatakan ia sempat kehilangan slot karena notifikasi terlambat masuk ke ponselnya.",
            "Pengelola terminal menyatakan akan memasang titik akses nirkabel tambahan dan membuka loket bantuan "
            "selama masa uji coba yang berlangsung hingga pertengahan Desember.",
            "Asosiasi pengusaha angkutan setempat menyambut baik sistem tersebut, tetapi meminta agar biaya pemesanan "
            "slot tidak dibebankan kepada sopir perorangan.",
        ),
        author="Andi Syamsuddin",
        editor="Sri Mulyani Hartono",
        caption="Deretan truk menunggu di depan gerbang terminal peti kemas Makassar",
        photographer="Arif Hidayat",
        tags=("pelabuhan", "logistik", "Makassar"),
        source="Kantor Berita Meridian",
        sentinel="Pada hari pertama uji coba, waktu tunggu rata-rata truk di depan gerbang turun dari 95 menit "
        "menjadi 38 menit, menurut catatan petugas terminal.",
    ),
    _article(
        "id",
        4510644,
        "25 11:30",
        "tim-robotik-smk-bandung-juarai-kompetisi-nasional",
        "tekno",
        title="Tim Robotik SMK di Bandung Juarai Kompetisi Nasional",
        summary="Robot beroda enam buatan lima siswa menembus lintasan reruntuhan tiruan dalam waktu tercepat.",
        dateline="Bandung",
        paragraphs=(
            "Tim robotik dari sebuah sekolah menengah kejuruan di Bandung menjuarai kompetisi robot penyelamat "
            "tingkat nasional setelah robot beroda enam buatan mereka menembus lintasan reruntuhan tiruan dalam "
            "waktu tercepat.",
            "Robot bernama Kancil-3 itu dirancang oleh lima siswa kelas XI dengan anggaran kurang dari Rp8 juta. "
            "Sebagian besar rangkanya memakai pipa aluminium bekas jemuran yang dipotong dan dilas sendiri di bengkel "
            "sekolah.",
            "Kapten tim, Fajar Nugraha, mengatakan kunci kemenangan mereka adalah sensor jarak murah yang dipasang "
            "miring sehingga robot bisa membaca anak tangga sebelum menabraknya.",
            "Pembimbing tim, Wulan Sari, menuturkan para siswa berlatih hampir setiap malam selama dua bulan di aula "
            'sekolah. "Kami sempat gagal di babak penyisihan tahun lalu, jadi tahun ini mereka mencatat setiap '
            'kesalahan di papan tulis," ujarnya.',
            "Sebagai juara, tim tersebut berhak mewakili Indonesia dalam kompetisi tingkat Asia Tenggara yang akan "
            "digelar di Hanoi pada Maret mendatang.",
        ),
        author="Galih Pratama",
        editor="Bambang Wicaksono",
        caption="Siswa menguji robot penyelamat di bengkel sekolah",
        photographer="Galih Pratama",
        tags=("robotik", "pendidikan", "Bandung"),
        sentinel="Kapten tim, Fajar Nugraha, mengatakan kunci kemenangan mereka adalah sensor jarak murah yang "
        "dipasang miring sehingga robot bisa membaca anak tangga sebelum menabraknya.",
    ),
    _article(
        "id",
        4510797,
        "25 16:20",
        "petani-rumput-laut-kupang-panen-lebih-awal",
        "ekonomi",
        title="Petani Rumput Laut di Kupang Panen Lebih Awal",
        summary="Suhu air laut yang lebih hangat mempercepat pertumbuhan rumput laut di pesisir Kupang.",
        dateline="Kupang",
        paragraphs=(
            "Petani rumput laut di pesisir Kupang memanen lebih awal dari jadwal biasanya setelah suhu air laut yang "
            "lebih hangat mempercepat pertumbuhan tanaman di tali bentangan mereka.",
            "Ketua kelompok tani Sinar Karang, Yosef Manafe, mengatakan panen yang biasanya dilakukan setelah 45 hari "
            "kini bisa dimulai pada hari ke-35. Namun ia mengingatkan bahwa kualitas rumput laut perlu dicek lebih "
            "teliti agar tidak mudah patah saat dijemur.",
            "Harga rumput laut kering di tingkat petani saat ini berkisar Rp14.000 per kilogram, sedikit naik "
            "dibandingkan bulan lalu karena permintaan dari pabrik pengolahan di Surabaya meningkat.",
            "Kelompok Sinar Karang kini menjemur hasil panen di atas para-para bambu setinggi lutut agar rumput laut "
            "tidak bercampur pasir pantai.",
            "Penyuluh perikanan setempat, Maria Ndun, mendorong petani mencatat suhu air setiap pagi dengan termometer "
            "sederhana yang dibagikan secara gratis, sehingga perubahan pola tanam bisa dipelajari bersama.",
            "Para petani berharap musim angin barat yang biasanya datang pada Desember tidak merusak tali bentangan "
            "sebelum seluruh hasil panen sempat diangkat.",
        ),
        author="Yohanes Lado",
        editor="Ratna Dewi",
        caption="Petani menjemur rumput laut di pesisir Kupang",
        photographer="Yohanes Lado",
        tags=("rumput laut", "perikanan", "NTT"),
        sentinel="Kelompok Sinar Karang kini menjemur hasil panen di atas para-para bambu setinggi lutut agar "
        "rumput laut tidak bercampur pasir pantai.",
    ),
    _article(
        "id",
        4510915,
        "26 07:10",
        "perpustakaan-keliling-surabaya-tambah-rute-malam",
        "humaniora",
        title="Perpustakaan Keliling Surabaya Tambah Rute Malam",
        summary="Mobil perpustakaan keliling kini singgah di taman kota dan pasar tradisional hingga pukul 21.00.",
        dateline="Surabaya",
        paragraphs=(
            "Dinas perpustakaan kota Surabaya menambah rute malam bagi mobil perpustakaan keliling yang kini singgah "
            "di tiga taman kota dan dua pasar tradisional hingga pukul 21.00.",
            "Kepala seksi layanan, Ayu Pramesti, mengatakan rute malam dibuka setelah survei menunjukkan banyak "
            "pekerja pabrik dan pedagang pasar baru punya waktu luang selepas magrib.",
            "Dalam sepekan pertama, petugas mencatat 1.260 peminjaman buku, dengan komik sejarah dan buku resep "
            "masakan sebagai koleksi yang paling cepat habis.",
            "Setiap mobil membawa sekitar 1.500 judul buku, lampu baca portabel, dan dua tablet untuk mengakses "
            "katalog digital. Warga cukup menunjukkan kartu identitas untuk mendaftar sebagai anggota di tempat.",
            "Seorang pedagang sayur di Pasar Genteng, Sutrisno, mengaku kini rutin meminjam buku cerita untuk "
            'cucunya. "Dulu perpustakaan tutup sebelum saya selesai berjualan," katanya.',
            "Dinas perpustakaan berencana menambah satu unit mobil lagi pada awal tahun depan untuk menjangkau "
            "kawasan pesisir utara kota.",
            "Jadwal lengkap rute malam diumumkan setiap Senin melalui papan pengumuman kelurahan dan akun media "
            "sosial dinas.",
        ),
        author="Dinda Maharani",
        editor="Ratna Dewi",
        caption="Warga memilih buku di mobil perpustakaan keliling",
        photographer="Teguh Santoso",
        tags=("literasi", "Surabaya", "perpustakaan"),
        sentinel="Dalam sepekan pertama, petugas mencatat 1.260 peminjaman buku, dengan komik sejarah dan buku "
        "resep masakan sebagai koleksi yang paling cepat habis.",
    ),
    _article(
        "en",
        880101,
        "24 09:05",
        "ferry-timetable-shake-up-leaves-early-commuters-waiting",
        "news",
        title="Ferry timetable shake-up leaves early commuters waiting on the quay",
        summary="Fewer morning sailings under the winter timetable meant queues past the ticket kiosk on Monday.",
        dateline="Plymouth",
        paragraphs=(
            "Commuters who use the early passenger ferry across Plymouth Sound faced waits of up to 40 minutes on "
            "Monday after the operator, Sound Crossings, switched to a winter timetable with fewer morning sailings.",
            "The company has cut the 6.45am and 7.15am departures and replaced them with a single 7.00am sailing, "
            "saying passenger numbers fall sharply between November and February.",
            "Nurse Harriet Colley, who crosses daily to reach a morning shift, said the queue stretched past the "
            'ticket kiosk by 6.50am. "Half of us were still on the quay when the boat left," she said.',
            "A spokesperson for Sound Crossings said a second vessel would be held on standby at the pontoon on "
            "weekday mornings until the end of January.",
            "Local councillor Martin Oyelaran said he had asked the operator to publish daily passenger counts so "
            "that residents could judge whether the cuts were justified.",
            "The winter timetable is due to run until the first weekend of March, when the operator normally "
            "restores its full summer schedule.",
        ),
        author="Tamsin Hale",
        editor="Robert Ainsworth",
        caption="Passengers queue for the morning ferry",
        photographer="Tamsin Hale",
        tags=("transport", "Plymouth", "ferries"),
        sentinel="A spokesperson for Sound Crossings said a second vessel would be held on standby at the pontoon "
        "on weekday mornings until the end of January.",
    ),
    _article(
        "en",
        880117,
        "24 15:45",
        "harbour-seal-count-rises-for-third-year",
        "environment",
        title="Harbour seal count rises for third year, volunteers say",
        summary="Volunteers recorded 412 harbour seals in their autumn survey north of Aberdeen.",
        dateline="Aberdeen",
        paragraphs=(
            "Volunteers counting seals along the coast north of Aberdeen recorded 412 harbour seals during their "
            "autumn survey, the third annual rise in a row, according to figures released on Tuesday.",
            "The count is carried out over two low tides by about 60 volunteers using binoculars and clicker "
            "counters from fixed points on the dunes.",
            "Survey co-ordinator Isla Brennan said the increase was encouraging but cautioned against reading too "
            'much into a single season. "Seals move around, and a calm week can make a haul-out look busier than it '
            'really is," she said.',
            "This year the team also photographed 37 seals carrying distinctive scars, which will let them follow "
            "individual animals from one survey to the next.",
            "Walkers have been asked to stay at least 50 metres from animals resting on the sand and to keep dogs on "
            "a lead near the river mouth during the pupping season.",
        ),
        author="Callum Reid",
        editor="Fiona Strachan",
        caption="Harbour seals resting at low tide",
        photographer="Callum Reid",
        tags=("wildlife", "Aberdeen", "seals"),
        sentinel="This year the team also photographed 37 seals carrying distinctive scars, which will let them "
        "follow individual animals from one survey to the next.",
    ),
    _article(
        "en",
        880142,
        "25 08:20",
        "bay-lifeboat-crew-rescue-kayakers-after-sudden-fog",
        "news",
        title="Bay lifeboat crew rescue kayakers after sudden fog",
        summary="Two kayakers were brought ashore after losing sight of the barrage in thick fog.",
        dateline="Cardiff",
        paragraphs=(
            "Two kayakers were brought ashore safely on Wednesday afternoon after thick fog rolled across Cardiff "
            "Bay and they lost sight of the barrage.",
            "The volunteer lifeboat crew launched at 2.18pm after a passer-by on the barrage heard shouting but "
            "could not see anyone on the water.",
            "Helm Owain Pritchard said the crew found the pair by switching off the engine and listening for a "
            "whistle they had been given on a safety course last summer.",
            "Both kayakers were wearing buoyancy aids and were cold but unhurt. They were checked by paramedics at "
            "the marina before being driven home.",
            "The crew urged anyone heading onto the water in winter to check the forecast, carry a means of calling "
            "for help and tell someone on shore when they expect to return.",
            "It was the crew's 31st call-out of the year, slightly fewer than in the same period last year.",
        ),
        author="Bethan Lloyd",
        editor="Robert Ainsworth",
        caption="The lifeboat returns to its station in the bay",
        photographer="Bethan Lloyd",
        tags=("lifeboat", "Cardiff", "rescue"),
        sentinel="Helm Owain Pritchard said the crew found the pair by switching off the engine and listening for "
        "a whistle they had been given on a safety course last summer.",
    ),
    _article(
        "en",
        880163,
        "25 13:00",
        "fish-market-trial-moves-pre-dawn-auctions-online",
        "business",
        title="Fish market trial moves pre-dawn auctions online",
        summary="Buyers will be able to bid from their phones in a three-month trial at Hull's fish market.",
        dateline="Hull",
        paragraphs=(
            "Buyers at Hull's fish market will be able to bid from their phones from next week as part of a "
            "three-month trial that moves the traditional pre-dawn auction partly online.",
            "Under the trial, each box will be photographed and weighed when it is landed, and listed on the "
            "market's auction screen at 4am. Buyers on the floor and online will bid against the same clock.",
            "Market manager Priya Lindqvist said the change was meant to attract restaurants and smaller "
            "fishmongers who cannot send staff to the quay in the early hours.",
            "During a test run last Thursday, 146 boxes of haddock, plaice and lemon sole were sold in 52 minutes, "
            "roughly half the time the floor auction usually takes.",
            "Some long-standing buyers were sceptical. Trader Colin Marsh said the photographs could not show how "
            'firm a fish was. "You need to press it with your thumb, and you cannot do that through a screen," he '
            "said.",
            "The market says buyers who are unhappy with a box bought online will be able to return it before 8am "
            "on the day of the sale.",
        ),
        author="Joe Whitaker",
        editor="Fiona Strachan",
        caption="Boxes of fish laid out before the morning auction",
        photographer="Joe Whitaker",
        tags=("fishing", "Hull", "markets"),
        sentinel="During a test run last Thursday, 146 boxes of haddock, plaice and lemon sole were sold in 52 "
        "minutes, roughly half the time the floor auction usually takes.",
    ),
    _article(
        "en",
        880188,
        "25 18:35",
        "shipyard-apprentices-restore-1930s-pilot-boat",
        "community",
        title="Shipyard apprentices restore 1930s pilot boat",
        summary="A wooden pilot boat is back on the water after an 18-month restoration by apprentices.",
        dateline="Belfast",
        paragraphs=(
            "A wooden pilot boat that guided ships into Belfast Lough in the 1930s has been returned to the water "
            "after an 18-month restoration by apprentices at a city boatyard.",
            "The 14-metre boat had been lying on a slipway for almost two decades when a local heritage trust "
            "bought it for a nominal one pound in 2025.",
            "Apprentice joiner Niamh Gallagher spent most of the summer steaming and bending 64 new oak frames, "
            "each one shaped by hand against the old hull.",
            "The boatyard's training manager, Declan Moore, said the project had taught skills that are rarely "
            'needed on modern steel vessels. "Nobody writes a manual for this. You learn it by listening to the '
            'people who did it forty years ago," he said.',
            "The trust plans to use the boat for short heritage trips around the harbour from next spring, with "
            "the apprentices acting as crew.",
        ),
        author="Ciara Doherty",
        editor="Robert Ainsworth",
        caption="The restored pilot boat is lowered into the water",
        photographer="Ciara Doherty",
        tags=("heritage", "Belfast", "boats"),
        sentinel="Apprentice joiner Niamh Gallagher spent most of the summer steaming and bending 64 new oak "
        "frames, each one shaped by hand against the old hull.",
    ),
    _article(
        "en",
        880205,
        "26 00:30",
        "council-approves-night-time-quiet-zone-around-marina",
        "politics",
        title="Council approves night-time quiet zone around marina",
        summary="Generators and amplified music will be banned overnight within the marina basin.",
        dateline="Portsmouth",
        paragraphs=(
            "Councillors in Portsmouth have approved a night-time quiet zone around a busy marina after residents "
            "complained about engines, music and late-night deliveries.",
            "Under the new rules, which were approved by seven votes to two on Tuesday evening, boats will not be "
            "allowed to run generators or play amplified music between 11pm and 7am within the marina basin.",
            "Resident Gwen Thackeray, who presented a petition with 830 signatures, said people living in the flats "
            "above the quay had been woken repeatedly during the summer.",
            "Marina operators will have to fit a decibel meter on the harbour wall and publish its readings online "
            "every week.",
            "Some boat owners said the rules were too strict. Skipper Tomasz Wilk said generators were sometimes "
            "needed overnight to keep refrigeration running on fishing charters.",
            "The council said exemptions would be available for safety equipment and that the rules would be "
            "reviewed after twelve months.",
        ),
        author="Alex Marchetti",
        editor="Fiona Strachan",
        caption="Boats moored in the marina basin at dusk",
        photographer="Alex Marchetti",
        tags=("council", "Portsmouth", "marina"),
        sentinel="Marina operators will have to fit a decibel meter on the harbour wall and publish its readings "
        "online every week.",
    ),
)

DEMO_NEWS_SITEMAP = "/news-sitemap.xml"


def _render_portal_pages(
    articles: Sequence[Article], *, full: bool, rng: random.Random | None = None
) -> dict[str, str]:
    """Article pages of one portal, each linking to its neighbours (deterministic)."""
    pages = {}
    for index, article in enumerate(articles):
        related = _neighbours(articles, index, rng.randint(6, 12) if rng else 5)
        popular = _neighbours(articles, index, rng.randint(5, 10) if rng else 4, offset=len(articles) // 2)
        latest = _neighbours(articles, index, rng.randint(20, 90), offset=len(articles) // 3) if rng else ()
        pages[article.path] = render_article(article, related, popular, latest=latest, full=full)
    return pages


def demo_site_files() -> dict[str, str]:
    """Every generated file of the demo site, by site path (``README.md`` is hand-written)."""
    files: dict[str, str] = {}
    for portal in PORTALS.values():
        articles = [a for a in DEMO_ARTICLES if a.portal == portal.lang]
        files.update(_render_portal_pages(articles, full=False))
        files[f"{portal.prefix}/index.html"] = render_home(portal, articles)
    kabar = [a for a in DEMO_ARTICLES if a.portal == "id"]
    files[KABAR.feed_path] = render_rss(
        title=f"{KABAR.name} - {KABAR.tagline}",
        link=f"{BASE}{KABAR.prefix}/",
        description=KABAR.tagline,
        self_url=f"{BASE}{KABAR.feed_path}",
        articles=kabar,
        language=KABAR.lang,
    )
    files[HARBOUR.feed_path] = render_atom(HARBOUR, [a for a in DEMO_ARTICLES if a.portal == "en"])
    files[DEMO_NEWS_SITEMAP] = render_sitemap(DEMO_ARTICLES, news=True)
    files["/robots.txt"] = render_robots(DEMO_NEWS_SITEMAP)
    portals = "".join(
        f'<a href="{p.prefix}/">{p.name}</a> ({p.lang}) &middot; <a href="{p.feed_path}">feed</a><br>'
        for p in PORTALS.values()
    )
    files["/index.html"] = _plain_page(
        "feedvault demo publisher",
        [portals, f'<a href="{DEMO_NEWS_SITEMAP}">News sitemap</a> &middot; <a href="/about.html">About</a>'],
    )
    files["/about.html"] = _plain_page(
        "About this demo site",
        [
            "Kabar Nusantara and Harbour Courier are fictional publications. Every article, name and quote on this "
            "site was written for the feedvault project; the cities are real, the events are not.",
            "The content is feedvault's own and may be crawled and archived by feedvault for demonstrations and "
            "tests (permission basis <code>own-content</code>).",
        ],
    )
    files["/private/index.html"] = _plain_page(
        "Private drafts", ["Robots.txt disallows this area; a polite crawler never fetches it."]
    )
    files.update({f"/{name}": text for name, text in STATIC_FILES.items()})
    return files


def build_demo_site(out_dir: Path = DEMO_SITE) -> list[Path]:
    """(Re)write the generated files of the demo site under ``out_dir``."""
    return [_write(out_dir, path, text) for path, text in sorted(demo_site_files().items())]


# ---------------------------------------------------------------------------------------------------------------
# The synthetic bench site
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    """Sentence material for one language; ``{city} {person} {org} {number}`` are filled at random."""

    titles: tuple[str, ...]
    summaries: tuple[str, ...]
    sentences: tuple[str, ...]
    quotes: tuple[str, ...]
    cities: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    orgs: tuple[str, ...]
    captions: tuple[str, ...]
    tags: tuple[str, ...]
    sources: tuple[str, ...] = ()


POOLS = {
    "id": _Pool(
        titles=(
            "{org} Luncurkan Program Baru untuk Warga {city}",
            "Warga {city} Sambut Festival Kuliner Pesisir",
            "Pasar Tradisional di {city} Uji Coba Pembayaran Digital",
            "{number} Relawan Bersihkan Pantai di {city}",
            "Jembatan Gantung di {city} Kembali Dibuka",
            "Sekolah di {city} Buka Kelas Pemrograman Gratis",
            "Harga Cabai di {city} Mulai Turun",
            "Perpustakaan Desa di {city} Raih Penghargaan",
            "Nelayan {city} Terima Bantuan Alat Keselamatan",
            "Lomba Perahu Tradisional Digelar di {city}",
            "Taman Kota {city} Dipercantik Jelang Libur Akhir Tahun",
            "Bus Sekolah Gratis Mulai Beroperasi di {city}",
        ),
        summaries=(
            "Program ini ditargetkan menjangkau {number} keluarga hingga akhir tahun.",
            "Panitia menyiapkan {number} relawan untuk membantu jalannya kegiatan.",
            "{person} menyebut kegiatan tersebut akan dievaluasi setiap bulan.",
            "Warga {city} diminta memantau pengumuman resmi dari {org}.",
        ),
        sentences=(
            "Menurut data {org}, jumlah peserta tahun ini meningkat menjadi {number} orang.",
            "Warga {city} diminta memantau pengumuman resmi karena jadwal kegiatan masih dapat berubah.",
            "Kegiatan serupa pernah digelar di {city} dan mendapat sambutan positif dari pelaku usaha kecil.",
            "{person} menjelaskan bahwa anggaran kegiatan berasal dari iuran anggota dan dukungan swasta.",
            "Panitia menyiapkan {number} relawan untuk membantu pengaturan lalu lintas di sekitar lokasi.",
            "Sejumlah pedagang mengaku omzet mereka naik hampir dua kali lipat selama kegiatan berlangsung.",
            "Petugas dari {org} melakukan pemeriksaan lapangan untuk memastikan kesiapan fasilitas.",
            "Program tersebut ditargetkan menjangkau {number} keluarga hingga akhir tahun.",
            "Rapat koordinasi lanjutan dijadwalkan berlangsung di kantor {org} pekan depan.",
            "Sebagian warga {city} berharap kegiatan itu digelar rutin setiap tahun.",
            "{person} menambahkan bahwa pendaftaran dapat dilakukan di kantor kelurahan terdekat.",
            "Hujan deras sempat mengganggu persiapan, tetapi panitia memastikan acara tetap berjalan.",
            "Para peserta datang dari {number} desa, termasuk dari wilayah kepulauan.",
            "Hasil evaluasi awal akan dipaparkan kepada publik dalam forum terbuka di {city}.",
            "Menurut {person}, kendala terbesar saat ini adalah keterbatasan tenaga teknis di lapangan.",
            "Pengunjung diimbau membawa botol minum sendiri untuk mengurangi sampah plastik.",
            "{org} juga membuka layanan pengaduan melalui pesan singkat selama kegiatan berlangsung.",
            "Beberapa sekolah di {city} ikut mengirimkan siswa sebagai peserta magang.",
            "Nilai transaksi selama kegiatan diperkirakan mencapai Rp{number} juta.",
            "Tahun depan, panitia berencana memperluas lokasi kegiatan hingga ke {city}.",
            "{person} menilai kerja sama antarlembaga menjadi kunci keberhasilan program tersebut.",
            "Data sementara menunjukkan tingkat kehadiran peserta mencapai {number} persen.",
            "Sebagian besar peserta adalah ibu rumah tangga dan pelajar dari kawasan sekitar.",
            "Jalan menuju lokasi kegiatan sempat padat kendaraan sejak pagi hari.",
        ),
        quotes=(
            '"Kami ingin kegiatan ini memberi manfaat langsung bagi warga sekitar," kata {person}.',
            '"Tahun ini persiapannya jauh lebih matang," ujar {person}.',
            '"Kami masih menunggu hasil evaluasi sebelum memutuskan langkah berikutnya," kata {person}.',
        ),
        cities=(
            "Jakarta",
            "Surabaya",
            "Makassar",
            "Medan",
            "Padang",
            "Kupang",
            "Ambon",
            "Pontianak",
            "Manado",
            "Palembang",
            "Semarang",
            "Denpasar",
            "Ternate",
            "Banjarmasin",
        ),
        first_names=("Rina", "Dimas", "Siti", "Agus", "Putri", "Hendra", "Wahyu", "Nur", "Bayu", "Intan", "Yosef"),
        last_names=("Hapsari", "Prakoso", "Lubis", "Siregar", "Wibowo", "Manuputty", "Pohan", "Nasution", "Daeng"),
        orgs=(
            "Dinas Perhubungan setempat",
            "Koperasi Nelayan Bahari",
            "Yayasan Pesisir Lestari",
            "Forum Warga Kelurahan",
            "Badan Pengelola Pelabuhan",
            "Komunitas Literasi Nusantara",
        ),
        captions=(
            "Warga mengikuti kegiatan di {city}",
            "Suasana pasar tradisional di {city}",
            "Relawan membersihkan pantai di {city}",
            "Petugas memeriksa fasilitas umum di {city}",
        ),
        tags=("daerah", "ekonomi", "pendidikan", "lingkungan", "transportasi", "budaya", "UMKM", "pariwisata"),
        sources=("Kantor Berita Meridian", "Warta Samudra"),
    ),
    "en": _Pool(
        titles=(
            "{org} launches new scheme for {city} residents",
            "Harbour festival returns to {city} after two-year gap",
            "{city} market trials cashless stalls",
            "{number} volunteers clear litter from {city} beach",
            "Footbridge in {city} reopens after repairs",
            "{city} school opens free coding club",
            "Lifeboat station in {city} gets new boathouse",
            "Village library near {city} wins national award",
            "Fishing crews in {city} receive new safety kit",
            "Rowing regatta draws record crowd in {city}",
            "Seafront shelters in {city} to be restored",
            "Night bus trial extended in {city}",
        ),
        summaries=(
            "Organisers say {number} people have already signed up.",
            "The scheme will be reviewed after six months, {person} said.",
            "Residents of {city} are being asked for their views.",
            "{org} says the work should be finished by spring.",
        ),
        sentences=(
            "{person}, a spokesperson for {org}, said the scheme would be reviewed every {number} weeks.",
            "Figures from {org} show that {number} people took part this year, up from last year.",
            "Residents of {city} have been asked to check official notices because the schedule may change.",
            "A similar project in {city} was welcomed by small businesses last spring.",
            "{person} said the budget came from member subscriptions and local sponsors.",
            "Organisers have recruited {number} volunteers to help with parking and crowd control.",
            "Several traders said their takings had almost doubled while the event was running.",
            "Inspectors from {org} visited the site on Monday to check that the facilities were ready.",
            "The programme aims to reach {number} households by the end of the year.",
            "A follow-up meeting is due to take place at the offices of {org} next week.",
            "Some people in {city} hope the event will become a fixture of the calendar.",
            "{person} added that anyone could register at the community centre.",
            "Heavy rain disrupted preparations, but organisers said the event would go ahead.",
            "Participants travelled from {number} villages, including several on the islands.",
            "Early findings will be presented at a public meeting in {city}.",
            "According to {person}, the biggest problem is a shortage of skilled staff.",
            "Visitors are being encouraged to bring refillable bottles to cut plastic waste.",
            "{org} has also opened a text message line for complaints while the work continues.",
            "Several schools in {city} have sent pupils on work placements.",
            "Local businesses estimate the event brought in about £{number},000.",
            "Next year organisers plan to extend the event to {city}.",
            "{person} said co-operation between organisations had been the key to success.",
            "Provisional figures put attendance at {number} per cent of capacity.",
            "Traffic on the harbour road was heavy from early morning.",
        ),
        quotes=(
            '"We want this to make a real difference to people living nearby," said {person}.',
            '"The preparation this year has been far more thorough," {person} said.',
            '"We are waiting for the review before we decide what happens next," said {person}.',
        ),
        cities=(
            "Plymouth",
            "Aberdeen",
            "Cardiff",
            "Hull",
            "Belfast",
            "Portsmouth",
            "Swansea",
            "Dundee",
            "Whitby",
            "Falmouth",
            "Grimsby",
            "Oban",
        ),
        first_names=("Eleanor", "Marcus", "Aisha", "Gareth", "Sophie", "Kwame", "Moira", "Hamish", "Lena", "Owen"),
        last_names=("Pike", "Okafor", "Davies", "MacLeod", "Brennan", "Walsh", "Penrose", "Haddow", "Quayle"),
        orgs=(
            "the harbour trust",
            "the town council",
            "Coastal Community Network",
            "the Fishermen's Co-operative",
            "the local lifeboat station",
            "Harbourside Business Group",
        ),
        captions=(
            "Crowds on the quayside in {city}",
            "The harbour at {city} at first light",
            "Volunteers on the beach at {city}",
            "Stallholders setting up in {city}",
        ),
        tags=("news", "business", "environment", "transport", "heritage", "community", "sport", "weather"),
    ),
}


def _synthetic_article(rng: random.Random, index: int, published: dt.datetime) -> Article:
    lang = "id" if index % 2 == 0 else "en"
    portal, pool = PORTALS[lang], POOLS[lang]

    def person() -> str:
        return f"{rng.choice(pool.first_names)} {rng.choice(pool.last_names)}"

    def fill(template: str) -> str:
        text = template.format(
            city=rng.choice(pool.cities), person=person(), org=rng.choice(pool.orgs), number=rng.randint(3, 950)
        )
        return text[0].upper() + text[1:]

    paragraphs = []
    for _ in range(rng.randint(4, 8)):
        sentences = [fill(s) for s in rng.sample(pool.sentences, rng.randint(2, 4))]
        if rng.random() < 0.3:
            sentences.append(fill(rng.choice(pool.quotes)))
        paragraphs.append(" ".join(sentences))
    title = fill(rng.choice(pool.titles))
    return Article(
        portal=lang,
        uid=7_000_000 + index,
        slug=f"{_slugify(title)}-{index}",
        section=rng.choice(portal.sections)[0],
        title=title,
        summary=fill(rng.choice(pool.summaries)),
        published=published.astimezone(portal.tz),
        dateline=rng.choice(pool.cities),
        paragraphs=tuple(paragraphs),
        author=person(),
        editor=person(),
        caption=fill(rng.choice(pool.captions)),
        photographer=person(),
        tags=tuple(rng.sample(pool.tags, 3)),
        source=rng.choice(pool.sources) if pool.sources else None,
    )


@dataclass(frozen=True)
class SiteInfo:
    """What :func:`generate_site` wrote; serve ``root`` and set ``$FEEDVAULT_BENCH_URL`` to its base URL."""

    root: Path
    registry: Path
    article_paths: tuple[str, ...]
    feed_path: str
    sitemap_path: str
    total_bytes: int

    @property
    def n_articles(self) -> int:
        return len(self.article_paths)


def bench_registry(feed_path: str = "/rss.xml") -> dict[str, object]:
    """The registry of the bench site: own content, loopback allowed, no delays, high concurrency."""
    base = f"${{{BENCH_URL_ENV}:-{BENCH_DEFAULT_URL}}}"
    return {
        "settings": {
            "contact_url": f"{base}/about.html",
            "storage": {"uri": "s3://feedvault/bench", "embedded": True, "data_dir": "${FEEDVAULT_HOME:-.feedvault}"},
            "politeness": {
                "download_delay": 0,
                "concurrency_per_domain": 16,
                "autothrottle": False,
                "retry_times": 1,
                "timeout_seconds": 30,
            },
            "entry_window_days": 7,
        },
        "feeds": [
            {
                "id": "bench",
                "publisher": "feedvault synthetic bench site",
                "urls": [f"{base}{feed_path}"],
                "kind": "rss",
                "allow_private_network": True,
                "permission": _permission("feedvault/demo/synth.py (synthetic bench site)", "feedvault bench"),
            }
        ],
    }


def generate_site(
    out_dir: Path, n_articles: int = 2000, seed: int = 0, published: dt.datetime | None = None
) -> SiteInfo:
    """Write a deterministic bench site of ``n_articles`` pages (alternating id/en) to ``out_dir/site``.

    Also writes ``/rss.xml`` and ``/sitemap.xml`` listing every page, ``/robots.txt`` and a registry
    ``out_dir/feeds.yaml``. Articles are spread over the two days before ``published`` (default: midnight UTC
    today), newest first.
    """
    if n_articles < 1:
        raise ValueError("n_articles must be at least 1")
    if published is None:
        published = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elif published.tzinfo is None:
        raise ValueError("published must be timezone-aware")
    rng = random.Random(seed)
    step = dt.timedelta(days=2) / n_articles
    articles = [_synthetic_article(rng, i, published - i * step) for i in range(n_articles)]
    root = Path(out_dir) / "site"
    files: dict[str, str] = {}
    for lang in PORTALS:
        files.update(_render_portal_pages([a for a in articles if a.portal == lang], full=True, rng=rng))
    feed_path, sitemap_path = "/rss.xml", "/sitemap.xml"
    files[feed_path] = render_rss(
        title="feedvault synthetic bench",
        link=f"{BASE}/",
        description="Synthetic articles for benchmarking feedvault",
        self_url=f"{BASE}{feed_path}",
        articles=articles,
        language=None,
    )
    files[sitemap_path] = render_sitemap(articles, news=False)
    files["/robots.txt"] = render_robots(sitemap_path)
    files["/about.html"] = _plain_page(
        "Synthetic bench site", ["Generated by feedvault.demo.synth; all text is synthetic."]
    )
    files.update({f"/{name}": text for name, text in STATIC_FILES.items()})
    total = 0
    for path, text in files.items():
        data = text.encode("utf-8")
        _write(root, path, data)
        total += len(data)
    registry = Path(out_dir) / "feeds.yaml"
    header = f"# Registry of a synthetic bench site: serve ./site and set ${BENCH_URL_ENV} to its base URL.\n"
    registry.write_text(header + yaml.safe_dump(bench_registry(feed_path), sort_keys=False), encoding="utf-8")
    return SiteInfo(
        root=root,
        registry=registry,
        article_paths=tuple(a.path for a in articles),
        feed_path=feed_path,
        sitemap_path=sitemap_path,
        total_bytes=total,
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: rebuild the committed demo site, or generate a bench site."""
    parser = argparse.ArgumentParser(prog="python -m feedvault.demo.synth", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="rewrite the generated files of the demo site")
    demo.add_argument("--out", type=Path, default=DEMO_SITE)
    bench = commands.add_parser("bench", help="write a synthetic bench site")
    bench.add_argument("out", type=Path)
    bench.add_argument("-n", "--articles", type=int, default=2000)
    bench.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        print(f"wrote {len(build_demo_site(args.out))} files to {args.out}")
    else:
        info = generate_site(args.out, args.articles, args.seed)
        print(f"wrote {info.n_articles} articles ({info.total_bytes / 1e6:.1f} MB) to {info.root}")
        print(f"registry: {info.registry}")


if __name__ == "__main__":
    main()
