"""Cleaner tests on synthetic portal pages (tests/fixtures/pages: invented text laid out like real portals)."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import random
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from bench.extraction_quality import aggregate, page_counts, score, shingles
from feedvault.cleaning import (
    CleanOptions,
    CleanResult,
    RemovedLine,
    RightsReservation,
    clean_html,
    clean_payload,
    decode_html,
)
from feedvault.cleaning.rules import builtin_rules
from feedvault.config import CleaningRules, ConfigError, FeedConfig, parse_registry

PAGES = Path(__file__).parent / "fixtures" / "pages"


def page(name: str) -> str:
    return (PAGES / f"{name}.html").read_text(encoding="utf-8")


def paragraphs(html: str, container: str) -> list[str]:
    """Text of the <p> elements in the article container, as a reader sees it."""
    from lxml import html as lxml_html

    tree = lxml_html.fromstring(html)
    (body,) = tree.xpath(f"//div[contains(@class, '{container}')]")
    return [re.sub(r"\s+", " ", p.text_content()).strip() for p in body.iter("p")]


ID_BODY = [
    "Ankara (ANTARA) - Pemerintah Turki pada Jumat mengumumkan rencana pembangunan koridor logistik baru yang"
    " akan menghubungkan pelabuhan-pelabuhan di pesisir Laut Hitam dengan jaringan rel menuju Asia Tengah.",
    "Menteri Perhubungan menyatakan bahwa proyek itu dirancang untuk memangkas waktu pengiriman barang hingga"
    " sepertiga dibandingkan rute laut yang selama ini digunakan para eksportir di kawasan tersebut.",
    "Menurut perkiraan kementerian, tahap pertama koridor akan selesai dalam empat tahun dan membutuhkan"
    " investasi sekitar 2,4 miliar dolar AS yang sebagian dibiayai oleh lembaga keuangan regional.",
    "Sejumlah pelaku usaha menyambut baik rencana tersebut, namun meminta pemerintah memastikan tarif angkutan"
    " tetap terjangkau bagi perusahaan kecil dan menengah yang bergantung pada ekspor.",
    "Pengamat ekonomi dari sebuah universitas di Istanbul menilai koridor itu dapat memperkuat posisi Turki"
    " sebagai simpul perdagangan antara Eropa dan Asia, asalkan kerja sama dengan negara-negara transit"
    " berjalan lancar.",
    "Pemerintah dijadwalkan memaparkan rincian teknis proyek kepada parlemen pada bulan depan sebelum proses"
    " tender dibuka untuk perusahaan konstruksi dalam dan luar negeri.",
]
ID_AI_NOTICE = (
    "Dilarang keras mengambil konten, melakukan crawling atau pengindeksan otomatis untuk AI di situs web ini"
    " tanpa izin tertulis dari Kantor Berita Kabar Nusantara."
)
# Page furniture that must never reach the clean text.
BOILERPLATE = re.compile(
    r"Baca juga|Read more|Sumber:|Pewarta|Editor:|Reporter:|COPYRIGHT|Copyright|©|All rights reserved|"
    r"Hak cipta dilindungi|Dilarang|may not be reproduced|Arsip foto|File photo|Beranda|Terpopuler|Komentar|"
    r"Berita Terkait|Most read|Comments|Skip to content|Semoga proyeknya|About time"
)


@pytest.fixture(scope="module")
def id_article() -> CleanResult:
    return clean_html(page("id_portal_article"), "https://kabarnusantara.example/berita/4410")


def test_id_portal_keeps_body_verbatim_and_drops_boilerplate(id_article: CleanResult) -> None:
    assert id_article.text.splitlines() == ID_BODY
    assert id_article.text.startswith("Ankara (ANTARA) - ")  # the dateline stays
    assert not BOILERPLATE.search(id_article.text)


def test_id_portal_lists_each_removed_line_with_its_rule(id_article: CleanResult) -> None:
    assert id_article.removed == [
        RemovedLine("Baca juga: Harga gandum dunia turun untuk pekan ketiga berturut-turut", "id.read-also"),
        RemovedLine("Baca juga: Kereta barang lintas negara mulai beroperasi di perbatasan timur", "id.read-also"),
        RemovedLine("Sumber: Anadolu", "id.source"),
        RemovedLine("Pewarta : Rina Wulandsari", "id.credits"),
        RemovedLine("Editor: Bambang Hartoyo", "id.credits"),
        RemovedLine("COPYRIGHT © ANTARA 2026", "id.copyright"),
        RemovedLine(ID_AI_NOTICE, "id.ai-reservation"),
    ]
    assert id_article.rights_reservations == [
        RightsReservation("copyright", "COPYRIGHT © ANTARA 2026", "id.copyright"),
        RightsReservation("ai-reservation", ID_AI_NOTICE, "id.ai-reservation"),
    ]


def test_id_portal_metadata(id_article: CleanResult) -> None:
    meta = id_article.metadata
    assert meta["title"] == "Turki siapkan koridor logistik baru ke Asia Tengah"
    assert meta["author"] == "Rina Wulandsari"
    assert (meta["date"], meta["modified"]) == ("2026-11-20", "2026-11-20")
    assert (meta["sitename"], meta["language"]) == ("Kabar Nusantara", "id")
    assert meta["tags"] == ["turki", "logistik", "asia tengah"]
    assert meta["categories"] == ["Dunia"]
    assert meta["canonical_url"] == "https://kabarnusantara.example/berita/4410/turki-siapkan-koridor-logistik-baru"
    assert meta["description"].startswith("Pemerintah Turki menyiapkan")
    assert meta["word_count"] == len(id_article.text.split())
    assert id_article.extractor["name"] == "trafilatura"
    assert id_article.extractor["version"] == "2.3.1"
    assert id_article.extractor["options"]["favor_precision"] is True


def test_inline_read_also_and_combined_credits() -> None:
    html = page("id_portal_inline")
    result = clean_html(html)
    body = [p for p in paragraphs(html, "article-body")[:-3] if not p.startswith("Baca juga")]
    # "<strong>Baca juga:</strong> <a>..</a>" inside a paragraph is cut off, the sentence before it stays.
    body[1] = body[1].split(" Baca juga:")[0]
    assert result.text.splitlines() == body
    assert not BOILERPLATE.search(result.text)
    assert [(r.rule, r.line) for r in result.removed] == [
        ("id.read-also", "Baca juga: Harga garam stabil menjelang musim panen"),
        ("id.read-also", "Baca juga: Pemerintah daerah bangun gudang garam rakyat"),
        ("id.credits", "Pewarta : Yusuf Ardiansyah / Editor: Lestari Handayani"),
        ("id.credits", "Reporter: Yusuf Ardiansyah"),
        ("id.copyright", "© 2026 Warta Samudra. Hak cipta dilindungi undang-undang."),
    ]
    assert result.metadata["modified"] == "2026-10-04"  # from JSON-LD
    assert result.metadata["tags"] == ["garam", "petani"]


def test_br_separated_layout() -> None:
    """Body as text nodes split by <br><br>, "Baca juga" in a span, credits in one <p> with <br>."""
    first = "Jakarta (KABARNUSA) - Pedagang ikan di dermaga lama mulai berjualan sebelum matahari terbit setiap pagi."
    second = (
        "Pemerintah kota berencana merenovasi pasar itu tahun depan dengan atap baru dan saluran air yang lebih baik."
    )
    html = (
        "<html lang='id'><head><title>Pasar ikan</title></head><body><nav><a href='/'>Beranda</a></nav>"
        f"<article><h1>Pasar ikan</h1><div class='post-content'>{first}<br><br>"
        "<span class='baca-juga'><b>Baca juga:</b> <a href='/x'>Harga ikan naik menjelang libur</a></span><br><br>"
        f"{second}<br><br><p class='small'>Pewarta: Nadia Kusuma<br>Editor: Hendra Wijaya<br>COPYRIGHT © KABARNUSA"
        " 2026</p></div></article><footer>Kabarnusa</footer></body></html>"
    )
    result = clean_html(html)
    assert result.text.splitlines() == [first, second]
    assert [r.rule for r in result.removed] == ["id.read-also", "id.credits", "id.credits", "id.copyright"]


def test_en_portal_article() -> None:
    html = page("en_portal_article")
    result = clean_html(html, "https://harborledger.example/x")
    body = paragraphs(html, "article-body")
    expected = [body[0], body[1], body[3].split(" Read more:")[0], body[4], body[5]]
    assert result.text.splitlines() == expected
    assert not BOILERPLATE.search(result.text)
    notice = body[-1]
    assert [(r.rule, r.line) for r in result.removed] == [
        ("en.read-more", "Read more: Harbour dredging delayed until spring after permit dispute"),
        ("en.read-more", "Read more: What the February storm cost the county"),
        ("en.credits", "Reporter: Dana Whitfield | Editor: Samuel Okafor"),
        ("en.copyright", "© 2026 Harbor Ledger Media Ltd. All rights reserved."),
        ("en.ai-reservation", notice),
    ]
    assert [r.kind for r in result.rights_reservations] == ["copyright", "ai-reservation"]
    meta = result.metadata
    assert (meta["title"], meta["author"]) == ("Coastal town votes to rebuild its century-old pier", "Dana Whitfield")
    assert (meta["date"], meta["modified"], meta["language"]) == ("2026-09-14", "2026-09-15", "en")
    assert meta["sitename"] == "Harbor Ledger"
    assert meta["tags"] == ["piers", "local government"]


@pytest.mark.parametrize(
    ("name", "container"), [("en_prose_mentions", "entry-content"), ("id_prose_mentions", "detail-text")]
)
def test_prose_mentioning_editor_copyright_read_survives(name: str, container: str) -> None:
    html = page(name)
    result = clean_html(html)
    assert result.removed == [] and result.rights_reservations == []
    lines = result.text.splitlines()
    for paragraph in paragraphs(html, container):
        assert paragraph in lines


def test_feed_rules_extra_patterns() -> None:
    rules = CleaningRules(
        drop_patterns=(r"^Dinas kelautan setempat berjanji",),
        rights_patterns=(r"^Dilarang mengambil dan/atau menayangkan",),
    )
    html = page("id_portal_inline").replace("<footer>", "<div class='article-body'>").replace("</footer>", "</div>")
    result = clean_html(html, options=CleanOptions(rules=rules))
    assert "Dinas kelautan" not in result.text
    assert ("feed.drop.1", "Dinas kelautan") in [(r.rule, r.line[:14]) for r in result.removed]
    assert "Baca juga" not in result.text  # built-ins still apply


def test_feed_rights_pattern_is_classified() -> None:
    rules = CleaningRules(rights_patterns=(r"^This article may not be reproduced",), builtin=False)
    result = clean_html(page("en_portal_article"), options=CleanOptions(rules=rules))
    (reservation,) = result.rights_reservations
    assert (reservation.rule, reservation.kind) == ("feed.rights.1", "ai-reservation")
    assert result.removed == [RemovedLine(reservation.text, "feed.rights.1")]


def test_builtin_rules_can_be_switched_off() -> None:
    result = clean_html(page("id_portal_article"), options=CleanOptions(rules=CleaningRules(builtin=False)))
    assert result.removed == [] and result.rights_reservations == []
    assert "Baca juga: Harga gandum" in result.text and ID_AI_NOTICE in result.text
    assert result.extractor["rules"]["builtin"] is False


def test_invalid_feed_regex_is_rejected_by_config() -> None:
    with pytest.raises(ValidationError, match="invalid regular expression"):
        CleaningRules(drop_patterns=("Baca juga: (",))
    with pytest.raises(ValidationError):
        FeedConfig(id="x", publisher="X", urls=("https://x.example/feed",), cleaning={"rights_patterns": ["[a-"]})
    registry = {
        "feeds": [{"id": "x", "publisher": "X", "urls": ["https://x.example/f"], "cleaning": {"drop_patterns": ["*"]}}]
    }
    with pytest.raises(ConfigError, match=r"feeds\.0\.cleaning\.drop_patterns"):
        parse_registry(registry)


def test_builtin_rule_files_are_valid() -> None:
    sets = builtin_rules()
    assert set(sets) == {"id", "en"}
    ids = [rule.id for rules in sets.values() for rule in rules]
    assert len(ids) == len(set(ids))
    for language, rules in sets.items():
        assert all(rule.id.startswith(f"{language}.") for rule in rules)
        assert all(re.match(r"(?:\(\?[a-z]+\))?\^", rule.pattern.pattern) for rule in rules)  # anchored


def test_target_language_mismatch_gives_empty_text() -> None:
    result = clean_html(page("id_portal_article"), options=CleanOptions(target_language="en"))
    assert result.text == "" and result.metadata["language"] == "id"
    assert result.metadata["title"] == "Turki siapkan koridor logistik baru ke Asia Tengah"
    assert clean_html(page("id_portal_article"), options=CleanOptions(target_language="id")).text


# ------------------------------------------------------------------------------------------------ charsets

CP1252_PAGE = (
    "<html><head><title>Menu</title>{meta}</head><body><article><h1>Kafe baru</h1>"
    "<p>Le café du coin propose des “menus” à Rp 1.500 – 2.000 chaque jour, c’est très économique, dit-on.</p>"
    "<p>Une deuxième phrase assez longue pour que l’extracteur garde ce paragraphe dans le texte final.</p>"
    "</article></body></html>"
)


def test_windows_1252_served_as_utf8_is_detected() -> None:
    body = CP1252_PAGE.format(meta='<meta charset="utf-8">').encode("cp1252")
    text, encoding = decode_html(body, "UTF-8")
    assert encoding == "cp1252"
    assert "café" in text and "Rp 1.500 – 2.000" in text and "“menus”" in text and "c’est" in text
    payload = clean_payload(body, "https://kafe.example/a", "utf-8", CleanOptions())
    assert payload["encoding"] == "cp1252"
    assert "Le café du coin propose des “menus” à Rp 1.500 – 2.000" in payload["text"]


@pytest.mark.parametrize(
    ("body", "declared", "expected"),
    [
        (CP1252_PAGE.format(meta='<meta charset="windows-1252">').encode("cp1252"), None, "cp1252"),
        (
            CP1252_PAGE.format(
                meta='<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
            ).encode("cp1252"),
            "utf-8",
            "cp1252",
        ),
        (CP1252_PAGE.format(meta="").encode("cp1252"), "iso-8859-1", "cp1252"),  # latin-1 label = windows-1252
        (b"\xef\xbb\xbf" + CP1252_PAGE.format(meta="").encode("utf-8"), "iso-8859-1", "utf-8"),  # BOM wins
        (CP1252_PAGE.format(meta="").encode("utf-16"), None, "utf-16-le"),
        (CP1252_PAGE.format(meta='<meta charset="utf-8">').encode("utf-8"), "no-such-charset", "utf-8"),
    ],
)
def test_decode_html(body: bytes, declared: str | None, expected: str) -> None:
    text, encoding = decode_html(body, declared)
    assert encoding == expected
    assert "Le café du coin propose des “menus” à Rp 1.500 – 2.000" in text


# ------------------------------------------------------------------------------------- robustness and API


@pytest.mark.parametrize("junk", [b"", "", "  \n ", b"\x00" * 64, "<html></html>", "<p>x</p>"])
def test_empty_input_gives_empty_text(junk: str | bytes) -> None:
    result = clean_html(junk)
    assert result.text == "" and result.removed == [] and result.metadata["word_count"] == 0


@pytest.mark.parametrize("seed", range(4))
def test_garbage_bytes_do_not_crash(seed: int) -> None:
    junk = random.Random(seed).randbytes(300 * 10**seed)
    assert isinstance(clean_html(junk), CleanResult)
    assert "encoding" in clean_payload(junk, "https://x.example/", "utf-8", CleanOptions())


def test_result_round_trips_through_json(id_article: CleanResult) -> None:
    data = json.loads(json.dumps(id_article.to_dict()))
    assert CleanResult.from_dict(data) == id_article


def test_clean_payload_in_a_fresh_worker_process() -> None:
    """Runs under 'spawn': nothing set up in this process is available to the worker."""
    body = (PAGES / "en_portal_article.html").read_bytes()
    options = CleanOptions(rules=CleaningRules(drop_patterns=(r"^Work is expected",)))
    pickle.dumps(options)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        payload = pool.submit(clean_payload, body, "https://harborledger.example/x", "utf-8", options).result()
    assert payload["encoding"] == "utf-8"
    assert payload["text"] == clean_html(body.decode(), "https://harborledger.example/x", options).text
    assert [r["rule"] for r in payload["removed"] if r["line"].startswith("Work is expected")] == ["feed.drop.1"]


# ---------------------------------------------------------------------------------------- bench scorer


def test_scorer_identical_and_disjoint_texts() -> None:
    text = "The pier will be rebuilt with local timber next summer."
    assert page_counts(text, text) == (1.0, 0.0, 0.0)
    assert aggregate([page_counts(text, text)])["f1"] == 1.0
    assert aggregate([page_counts(text, "Completely different words appear here instead.")]) == {
        "f1": 0.0,
        "precision": 0.0,
        "recall": 0.0,
    }


def test_scorer_shingles_and_partial_pages() -> None:
    assert shingles("a b") == {("a", "b"): 1}  # 1-3 tokens: one shorter shingle
    assert shingles("") == {}
    assert sum(shingles("a b c d e f").values()) == 3
    # gold 6 tokens (3 shingles); prediction misses the last token: 2 shared, 1 missing.
    assert page_counts("a b c d e f", "a b c d e") == pytest.approx((2 / 3, 0.0, 1 / 3))
    gold = {"p1": "a b c d e f", "p2": "one two three four"}
    result = score(gold, {"p1": "a b c d e", "p2": ""}, n_bootstrap=50)
    # empty output: no precision for p2, recall 0
    assert (result.precision, result.recall) == pytest.approx((1.0, (2 / 3 + 0) / 2))
    assert result.f1 == pytest.approx(2 * 1.0 * (1 / 3) / (1.0 + 1 / 3))
    assert result.accuracy == 0.0
    assert score(gold, gold, n_bootstrap=10).accuracy == 1.0


def test_clean_tree_leaves_the_tree_untouched_for_the_page_scan():
    """examine_payload parses a page once, cleans the tree, then scans the same tree: cleaning must not mutate it."""
    import trafilatura
    from lxml import etree

    from feedvault.cleaning import clean_tree

    for page in sorted(PAGES.glob("*.html")):
        html = page.read_text(encoding="utf-8")
        tree = trafilatura.load_html(html)
        before = etree.tostring(tree)
        result = clean_tree(tree, "https://portal.example/a.html", CleanOptions())
        assert etree.tostring(tree) == before, page.name
        assert result.to_dict() == clean_html(html, "https://portal.example/a.html", CleanOptions()).to_dict()
