"""Boilerplate families as data, per language: each family's rules remove its lines and leave article text alone.

Lines are matched as the cleaner sees them (one line of trafilatura's text) with the rules for the page's
language (all built-in rule sets apply, that language's first).
"""

from __future__ import annotations

import re

import pytest

from feedvault.cleaning import CleanOptions, clean_html
from feedvault.cleaning.rules import FAMILIES, apply_rules, builtin_rules, compile_rules
from feedvault.config import CleaningRules

# (language, family, line): the line must be removed by a rule of that family.
POSITIVE = [
    ("id", "related", "Lihat Juga : Tarif angkot naik, warga beralih ke sepeda"),
    ("id", "related", "Pilihan Editor: Stasiun lama dipugar jadi ruang baca publik"),
    ("id", "related", 'Simak Video "Menanam Mangrove Bersama Nelayan Muara"'),
    ("id", "related", "Baca Juga:"),
    ("ms", "related", "BACA JUGA: Banjir kilat di pantai timur, tiga jalan ditutup"),
    ("ms", "related", "Berita berkaitan: Jalan utama ditutup sementara"),
    ("en", "related", "Related: How the city cut its energy bill by a fifth"),
    ("en", "related", "Read more"),
    ("en", "related", "You may also like:"),
    ("de", "related", "Lesen Sie auch: Neue Radwege rund um den Hauptbahnhof"),
    ("fr", "related", "À lire aussi : Le prix des fruits d'hiver reste stable"),
    ("es", "related", "Te puede interesar: Cómo empezar un huerto en el balcón"),
    ("pt", "related", "Leia também: Escolas rurais recebem novos computadores"),
    ("nl", "related", "Lees ook: Meer stallingsplekken bij het station"),
    ("it", "related", "Leggi anche: Nuove piste ciclabili lungo il fiume"),
    ("id", "promo", "Simak breaking news dan berita pilihan kami langsung di ponselmu lewat WhatsApp Channel"),
    ("id", "promo", "Baca berita dengan sedikit iklan, klik di sini"),
    ("ms", "promo", "Ikuti kami di saluran rasmi WhatsApp untuk berita terkini."),
    ("ms", "promo", "Langgan surat berita kami untuk menerima berita pilihan setiap pagi."),
    ("en", "promo", "Sign up for our weekly newsletter to get the best local stories."),
    ("en", "promo", "Get the day's top headlines delivered to your inbox every morning."),
    ("de", "promo", "Abonnieren Sie unseren Newsletter für die wichtigsten Nachrichten des Tages."),
    ("fr", "promo", "Abonnez-vous à notre newsletter pour recevoir l'essentiel de l'actualité."),
    ("es", "promo", "Suscríbete a nuestro boletín y recibe las noticias cada mañana."),
    ("pt", "promo", "Receba as notícias da região no seu WhatsApp: junte-se ao nosso canal."),
    ("nl", "promo", "Meld je aan voor onze nieuwsbrief en mis niets."),
    ("it", "promo", "Iscriviti alla nostra newsletter per ricevere le notizie del giorno."),
    ("id", "embed", "[Gambas:Video 20detik]"),
    ("en", "embed", "ADVERTISEMENT"),
    ("en", "embed", "SCROLL TO CONTINUE WITH CONTENT"),
    ("en", "embed", "___"),
    ("de", "embed", "Anzeige"),
    ("es", "embed", "Publicidad"),
    ("id", "credits", "(wnv/idn)"),
    ("id", "credits", "Nadia Putri berkontribusi dalam penulisan artikel ini."),
    ("ms", "credits", "-- BERNAMA"),
    ("en", "credits", "— AFP"),
    ("en", "credits", "Reporting by Mei Lin Tan; Additional reporting by Arjun Rao; Editing by Helen Moore"),
    ("en", "credits", "(Reporting by Will Dunham; Editing by Tom Brown)"),
    ("en", "credits", "Associated Press writer Dana Ortiz in Boise contributed to this report."),
    (
        "en",
        "credits",
        "This story was produced with support from a journalism foundation. The newsroom is solely responsible for"
        " all content.",
    ),
    ("en", "credits", "Have a tip? Jo Marsh may be reached at jmarsh@harbourledger.example. or on Facebook."),
    ("en", "credits", "Email Priya Natarajan at pnatarajan@coastnews.example or follow her @pnatarajan."),
    ("en", "credits", "Reach the reporters on Twitter at https://twitter.com/joe_ray and https://twitter.com/ana_k"),
    ("en", "related", "SEE MORE: Harbour protests: students wait for news at the gate"),
    ("en", "related", "Plane passengers quarantined after outbreak at the airport [NEWS]"),
    ("en", "related", "Also on example.org Ferry operators warn of winter delays"),
    ("en", "promo", "Follow the Opinion section of the Harbour Ledger on Facebook, Twitter and Instagram."),
    ("en", "promo", "Like this story? Share it with a friend!"),
    ("en", "promo", "Listen: https://pod.example/ep/615"),
    ("en", "embed", '[button link="https://x.example/review" type="big"]Send us your review[/button]'),
    (
        "en",
        "rights",
        "This copy is for your personal, non-commercial use only. To order copies, contact the publisher.",
    ),
    ("id", "rights", "Semua hak dilindungi."),
    ("ms", "rights", "Hak Cipta Terpelihara © 2026 Pertubuhan Berita Semenanjung."),
    ("de", "rights", "Alle Rechte vorbehalten."),
    ("fr", "rights", "Tous droits réservés."),
    ("es", "rights", "Todos los derechos reservados."),
    ("pt", "rights", "Todos os direitos reservados."),
    ("nl", "rights", "Alle rechten voorbehouden."),
    ("it", "rights", "Tutti i diritti riservati."),
    ("it", "rights", "Riproduzione riservata ©"),
]

# Article sentences that look like boilerplate but are not: no rule may touch them.
NEGATIVE = [
    ("id", "Lihat juga bagaimana warga menanam bibit di pantai itu kemarin sore."),
    ("id", "Simak juga penjelasan lengkap menteri di depan parlemen pada Senin."),
    ("id", "Ikuti jalur evakuasi yang ditandai dengan papan hijau, kata petugas."),
    ("id", "Semua hak warga dilindungi undang-undang, kata hakim dalam putusannya."),
    ("id", "(ANTARA)"),
    ("ms", "Hak cipta terpelihara menjadi isu utama dalam mesyuarat penerbit itu."),
    ("ms", "Ikuti arahan polis di jalan raya ketika banjir melanda kampung."),
    ("en", "The app was downloaded two million times in its first week."),
    ("en", "Follow-up inspections found no damage to the newsletter printing plant."),
    ("en", "Reporting by the local paper revealed gaps in the harbour budget."),
    ("en", "Three teachers contributed to this report's findings on reading levels."),
    ("en", "The museum receives support from the city, its director said."),
    ("en", "Advertisement revenue fell by a fifth last year."),
    ("en", "- GPS"),
    ("en", "All rights reserved by the original contracts return to the authors after ten years."),
    ("en", "Follow the river path on foot for about two miles to reach the old mill."),
    ("en", "Also on Tuesday the council approved a new budget for the harbour."),
    ("en", "Like this story, the next one begins in a small town on the coast."),
    ("en", "Note: the ferry runs hourly from the north pier."),
    ("en", "Contact the helpline at help@county.example to book a repair visit."),
    ("en", "Email Santa Claus at letters@post.example before December 10, the post office told children."),
    ("en", "Reach the summit by noon to avoid the afternoon storms, rangers advise."),
    ("en", "Have a tip for the harbour master? Write to the port office before Friday."),
    ("de", "Lesen Sie auch den Kommentar unseres Korrespondenten zur Wahl."),
    ("de", "Jetzt beginnt die Saison, und die App des Vereins zeigt alle Spiele."),
    ("fr", "Suivez le guide : la mairie publie une application pour les randonneurs."),
    ("es", "Todos los derechos reservados por la ley fueron defendidos por el sindicato."),
    ("pt", "Siga a estrada principal até a ponte, disse o motorista."),
    ("nl", "Lees ook de brief van de burgemeester aan de raad."),
    ("it", "Leggi anche tu il libro che ha vinto il premio."),
]


def _removals(language: str, line: str):
    _, removed, _ = apply_rules(line, compile_rules(CleaningRules(), language))
    return removed


@pytest.mark.parametrize(
    ("language", "family", "line"), POSITIVE, ids=[f"{p[0]}-{p[1]}-{i}" for i, p in enumerate(POSITIVE)]
)
def test_a_family_rule_removes_its_line(language: str, family: str, line: str) -> None:
    removed = _removals(language, line)
    assert [(r.family, r.line) for r in removed] == [(family, line)]
    assert removed[0].reason == "builtin-rule"


@pytest.mark.parametrize(("language", "line"), NEGATIVE, ids=[f"{n[0]}-{i}" for i, n in enumerate(NEGATIVE)])
def test_article_text_that_looks_like_boilerplate_stays(language: str, line: str) -> None:
    assert _removals(language, line) == []


def test_every_family_has_positive_examples_and_every_language_has_rules() -> None:
    assert {family for _, family, _ in POSITIVE} >= set(FAMILIES) - {"feed", "learned", "headline"}
    assert {"id", "ms", "en", "de", "fr", "es", "pt", "nl", "it"} <= set(builtin_rules())
    for rules in builtin_rules().values():
        assert all(rule.family in FAMILIES for rule in rules)


def test_sign_offs_after_the_last_sentence_are_cut_and_the_sentence_stays() -> None:
    text = "Warga berharap hasil tangkapan ikut membaik, ujarnya. (wnv/idn)\nJambatan itu dibuka hari ini. -- BERNAMA"
    kept, removed, _ = apply_rules(text, compile_rules(CleaningRules(), "id"))
    assert kept.splitlines() == [
        "Warga berharap hasil tangkapan ikut membaik, ujarnya.",
        "Jambatan itu dibuka hari ini.",
    ]
    assert [(r.family, r.line) for r in removed] == [("credits", "(wnv/idn)"), ("credits", "-- BERNAMA")]


def test_no_rule_names_a_site() -> None:
    """Rules describe kinds of lines: no publisher, agency or domain name in any built-in pattern."""
    names = ("antara", "bernama", "reuters", "associated press", "kompas", "detik", "tempo", "afp", ".com", "www.")
    for rules in builtin_rules().values():
        for rule in rules:
            assert not any(name in rule.pattern.pattern.lower() for name in names), rule.id


def test_the_headline_repeated_as_first_line_is_removed() -> None:
    body = "".join(
        f"<p>Paragraph {n} of the story about the ferry timetable and the people who rely on it daily.</p>"
        for n in range(6)
    )
    html = (
        "<html lang='en'><head><title>Ferry service resumes</title></head><body><article>"
        f"<h1>Ferry service resumes</h1>{body}</article></body></html>"
    )
    result = clean_html(html, "https://harbour.example/a", CleanOptions())
    assert not result.text.startswith("Ferry service resumes")
    assert ("headline", "Ferry service resumes") in [(r.family, r.line) for r in result.removed]
    off = clean_html(html, "https://harbour.example/a", CleanOptions(rules=CleaningRules(builtin=False)))
    assert off.text.startswith("Ferry service resumes")


def test_the_h1_headline_is_removed_even_when_the_title_differs() -> None:
    body = "".join(f"<p>Sentence {n} about the ferry and the people who rely on it every day.</p>" for n in range(6))
    html = (
        "<html lang='en'><head><title>Ferry news - Harbour Ledger</title></head><body><article>"
        f"<h1>Harbour ferry resumes after repairs</h1>{body}</article></body></html>"
    )
    result = clean_html(html, "https://harbour.example/c", CleanOptions())
    assert result.text.startswith("Sentence 0")
    assert [(r.family, r.line) for r in result.removed] == [("headline", "Harbour ferry resumes after repairs")]


def test_a_first_paragraph_that_is_also_the_title_stays() -> None:
    first = "Harbour ferry resumes after repairs"
    body = "".join(f"<p>Sentence {n} about the ferry and the people who rely on it every day.</p>" for n in range(6))
    html = (
        f"<html lang='en'><head><title>{first}</title></head><body><article><p>{first}</p>{body}</article>"
        "</body></html>"
    )
    result = clean_html(html, "https://harbour.example/b", CleanOptions())
    assert result.text.startswith(first) and not [r for r in result.removed if r.family == "headline"]


def test_a_length_capped_rule_is_skipped_for_longer_lines_without_changing_what_matches() -> None:
    from feedvault.cleaning.rules import Rule, _max_length

    capped = re.compile(r"(?i)^(?=.{0,40}$)(?:.{0,20}?[.,;]\s+)?all\s+rights\s+reserved\.?$")
    assert _max_length(capped) == 40 and _max_length(re.compile(r"^(?=.*x)y")) is None
    rule = Rule("t.rights", capped, "drop", family="rights")
    for line in ("Acme Ltd. All rights reserved.", "x" * 60 + ". All rights reserved."):
        assert bool(apply_rules(line, [rule])[1]) == bool(capped.search(line))
