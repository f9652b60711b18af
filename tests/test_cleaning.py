"""Cleaner tests on synthetic portal pages (tests/fixtures/pages: invented text laid out like real portals)."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import random
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import trafilatura
from pydantic import ValidationError

from bench.eval_pages import PAGES as EVAL_PAGES
from bench.eval_pages import render
from bench.extraction_quality import score
from bench.scoring import aggregate, page_counts, shingles
from feedvault.cleaning import (
    RECALL_FALLBACK_WORDS,
    CleanOptions,
    CleanResult,
    RemovedLine,
    RightsReservation,
    clean_html,
    clean_payload,
    decode_html,
)
from feedvault.cleaning.literals import any_of, finder, fold, may_contain, needles
from feedvault.cleaning.rules import (
    FAMILIES,
    REMOVAL_REASONS,
    Rule,
    _prefilter,
    apply_rules,
    builtin_rules,
    compile_rules,
)
from feedvault.config import CleaningRules, ConfigError, FeedConfig, parse_registry
from feedvault.permission.signals import _BLOCKS, _SKIPPED, _page_lines

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
        RemovedLine(
            "Baca juga: Harga gandum dunia turun untuk pekan ketiga berturut-turut",
            "id.read-also",
            "related",
            "builtin-rule",
        ),
        RemovedLine(
            "Baca juga: Kereta barang lintas negara mulai beroperasi di perbatasan timur",
            "id.read-also",
            "related",
            "builtin-rule",
        ),
        RemovedLine("Sumber: Anadolu", "id.source", "credits", "builtin-rule"),
        RemovedLine("Pewarta : Rina Wulandsari", "id.credits", "credits", "builtin-rule"),
        RemovedLine("Editor: Bambang Hartoyo", "id.credits", "credits", "builtin-rule"),
        RemovedLine("COPYRIGHT © ANTARA 2026", "id.copyright", "rights", "builtin-rule"),
        RemovedLine(ID_AI_NOTICE, "notice.id", "rights", "notice"),
    ]
    assert id_article.rights_reservations == [
        RightsReservation("copyright", "COPYRIGHT © ANTARA 2026", "id.copyright"),
        RightsReservation("ai-reservation", ID_AI_NOTICE, "notice.id"),
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


@pytest.mark.parametrize(
    ("lang", "label", "other_label"), [("id", "Baca juga:", "Lihat juga:"), ("en", "Read also:", "See also:")]
)
def test_inline_read_also_link_mid_paragraph_keeps_the_article_text_after_it(
    lang: str, label: str, other_label: str
) -> None:
    """Only the label and its link go: the HTML says where the headline ends, so the sentence after it stays."""
    filler = " ".join(f"Kalimat isi berita nomor {n} tentang pembangunan jalan di kota pesisir." for n in range(4))
    html = f"""<html lang="{lang}"><head><title>Judul</title></head><body>
    <nav><a href="/ekonomi">Ekonomi</a> <a href="/kota">Kota</a></nav><article><h1>Judul berita kota</h1>
    <p>{filler}</p>
    <p>Warga menyambut baik rencana itu. <strong>{label}</strong> <a href="/a">Harga beras naik di pasar induk</a>
       Menurut warga, jalan rusak sudah lama dikeluhkan.</p>
    <p>{filler}</p>
    <p>{label} <a href="/b">Ekonomi tumbuh lima persen</a> {other_label} <a href="/c">Gempa kecil di selatan</a>
       Kepala dinas menyebut pekerjaan dimulai bulan depan.</p>
    <p>{filler}</p>
    <p>{label} <a href="/d">Banjir melanda tiga desa</a></p>
    </article></body></html>"""
    result = clean_html(html, "https://kota.example/berita/1")
    lines = result.text.splitlines()
    assert "Warga menyambut baik rencana itu. Menurut warga, jalan rusak sudah lama dikeluhkan." in lines
    assert "Kepala dinas menyebut pekerjaan dimulai bulan depan." in lines
    assert [line.line for line in result.removed] == [
        "Judul berita kota",  # the headline repeated as the first line
        f"{label} Harga beras naik di pasar induk",
        f"{label} Ekonomi tumbuh lima persen",  # not cut after "Ekonomi": that link is navigation, not read-also
        f"{other_label} Gempa kecil di selatan",
        f"{label} Banjir melanda tiga desa",
    ]
    assert not any(word in result.text for word in ("Harga beras", "tumbuh lima", "Gempa", "Banjir"))


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
        ("notice.en", notice),
    ]
    assert [r.kind for r in result.rights_reservations] == ["copyright", "ai-reservation"]
    meta = result.metadata
    assert (meta["title"], meta["author"]) == ("Coastal town votes to rebuild its century-old pier", "Dana Whitfield")
    assert (meta["date"], meta["modified"], meta["language"]) == ("2026-09-14", "2026-09-15", "en")
    assert meta["sitename"] == "Harbor Ledger"
    assert meta["tags"] == ["piers", "local government"]


def test_article_body_lost_by_precision_extraction_is_recovered_by_a_recall_run() -> None:
    # trafilatura drops any element whose class contains "bar" (sidebar, navbar), here the brand-named article
    # wrapper "lombard-article-wrap"; its precision run then keeps only the print header's reprint notice.
    html = page("en_print_header_brand_class")
    assert len((trafilatura.extract(html, favor_precision=True) or "").split()) < RECALL_FALLBACK_WORDS
    result = clean_html(html, "https://lombardcourier.example/articles/valley-pumping-station")
    text, lines = result.text, result.text.splitlines()
    for paragraph in paragraphs(html, "lombard-article-wrap"):
        assert paragraph in lines
    assert "reprints desk" not in text
    assert result.extractor["recall_fallback"] is True


def test_a_short_precision_text_is_kept_when_the_recall_run_finds_no_more() -> None:
    body = "The council meets on Thursday at noon to vote on the harbour budget."
    html = f"<html><body><article><h1>Council to vote</h1><p>{body}</p></article></body></html>"
    result = clean_html(html)
    assert result.text == body and result.extractor["recall_fallback"] is False


@pytest.mark.parametrize(
    ("name", "container"), [("en_prose_mentions", "entry-content"), ("id_prose_mentions", "detail-text")]
)
def test_prose_mentioning_editor_copyright_read_survives(name: str, container: str) -> None:
    html = page(name)
    result = clean_html(html)
    assert all(r.family == "headline" for r in result.removed) and result.rights_reservations == []
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
    assert result.removed == [RemovedLine(reservation.text, "feed.rights.1", "feed", "feed-rule")]


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


def test_every_removal_says_its_family_rule_and_reason() -> None:
    """The removal record format: family (a known family), rule id, reason; feed rules say family/reason feed."""
    rules = CleaningRules(drop_patterns=(r"^Dinas kelautan setempat berjanji",))
    html = page("id_portal_inline").replace("<footer>", "<div class='article-body'>").replace("</footer>", "</div>")
    result = clean_html(html, options=CleanOptions(rules=rules))
    records = result.to_dict()["removed"]
    assert records and all(set(r) == {"line", "rule", "family", "reason"} for r in records)
    assert all(r["family"] in FAMILIES and r["reason"] in REMOVAL_REASONS for r in records)
    by_rule = {r["rule"]: (r["family"], r["reason"]) for r in records}
    assert by_rule["feed.drop.1"] == ("feed", "feed-rule")
    assert by_rule["id.read-also"] == ("related", "builtin-rule")
    assert by_rule["id.credits"] == ("credits", "builtin-rule")
    assert by_rule["id.copyright"] == ("rights", "builtin-rule")
    # Records written before families existed still load.
    old = CleanResult.from_dict(result.to_dict() | {"removed": [{"line": "Baca juga: x", "rule": "id.read-also"}]})
    assert old.removed == [RemovedLine("Baca juga: x", "id.read-also", "", "")]


def test_a_builtin_rule_without_a_known_family_is_refused(tmp_path: Path) -> None:
    (tmp_path / "xx.yaml").write_text(
        "rules:\n  - {id: xx.a, action: drop, pattern: '^a$', family: sidebar}\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"xx\.a: family must be one of"):
        builtin_rules(tmp_path)


def test_builtin_rule_files_are_valid() -> None:
    sets = builtin_rules()
    assert set(sets) == {"common", "id", "ms", "en", "de", "fr", "es", "pt", "nl", "it"}
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


# ------------------------------------------------------------------------- fast paths (same output as slow)

SENTENCE_END = re.compile(r"(?<=[.!?…\"”’)\]])\s+")


def reference_match(line: str, rules: Sequence[Rule]) -> tuple[Rule, str, str] | None:
    """The plain semantics: every rule on the whole line, in order; then at each sentence end, every tail rule."""
    for rule in rules:
        if rule.pattern.search(line):
            return rule, "", line
    for cut in SENTENCE_END.finditer(line):
        for rule in rules:
            if rule.tail and rule.pattern.search(line[cut.end() :]):
                return rule, line[: cut.start()], line[cut.end() :]
    return None


def reference_apply(text: str, rules: Sequence[Rule]) -> tuple[str, list[RemovedLine], list[tuple[str, str]]]:
    """apply_rules on top of reference_match: kept text, removed lines, (rule, text) of the reservations."""
    kept: list[str] = []
    removed: list[RemovedLine] = []
    for line in text.splitlines():
        found = reference_match(line.strip(), rules) if line.strip() else None
        if found is None:
            kept.append(line)
            continue
        rule, rest, cut = found
        kept += [rest] if rest else []
        removed.append(RemovedLine(cut, rule.id, rule.family, "feed-rule" if rule.family == "feed" else "builtin-rule"))
    actions = {rule.id: rule.action for rule in rules}
    return "\n".join(kept), removed, [(r.rule, r.line) for r in removed if actions[r.rule] == "rights"]


# Lookarounds opening a pattern are what the prefilter strips: here with ")" in a class, escaped and in a
# verbose comment; quantified or with groups they must stay (no prefilter).
TRICKY_PATTERNS = {
    r"(?i)^(?=.{0,60}$)(?!.*\bsaid\b)(?:note|catatan)\b.*$": r"(?i)^(?:note|catatan)\b.*$",
    "(?x)^(?=[^)]*\\)\\s)(?!.*\\bnot\\b) # a comment with (?= and ) in it\n  legal\\b": (
        "(?x)^ # a comment with (?= and ) in it\n  legal\\b"
    ),
    "(?xi)^(?=.*\\bsite\\b # ) inside the comment\n)(?!x\\)) warning\\b": "(?xi)^ warning\\b",
    r"(?=.*\d)(?:price|harga)\b": r"(?:price|harga)\b",
    r"^(?=a)*b": None,
    r"^(?=(a*))(d)\1e$": None,  # without the lookahead, \1 would be (d): "de" would not match
}


def test_prefilter_strips_exactly_the_opening_lookarounds() -> None:
    for source, expected in TRICKY_PATTERNS.items():
        prefilter = _prefilter(re.compile(source))
        assert (prefilter.pattern if prefilter else None) == expected, source
    builtin = [rule for rules in builtin_rules().values() for rule in rules]
    opening_lookaround = re.compile(r"(?:\(\?[aiLmsux]+\))*\^?\(\?[=!]")
    assert {rule.id for rule in builtin if _prefilter(rule.pattern)} == {
        rule.id for rule in builtin if opening_lookaround.match(rule.pattern.pattern) and not rule.pattern.groups
    }


RULE_LINES = [
    "Read more: Harbour dredging delayed until spring",
    "The pier opens in May. Read more: What the storm cost the county",
    "The pier opens in May. Baca juga: Harga garam stabil",
    "The pier opens in May. It was built in 1901. Read more: The pier's history",  # at the second sentence end
    "The pier opens in May. See also: the ferry timetable",
    "The pier opens in May. See also: the ferry timetable, the mayor said",
    "Copyright 2026 Harbor Ledger",  # feed.drop.2 before the built-in en.copyright: dropped, no reservation
    "© 2026 Harbor Ledger Media Ltd. All rights reserved.",
    "This article may not be reproduced or used to train artificial intelligence without written permission.",
    "This article may not be reproduced, the publisher said in a statement.",
    "No part of this site may be used for text and data mining.",
    "Dilarang keras mengambil konten, melakukan crawling atau pengindeksan otomatis untuk AI di situs web ini"
    " tanpa izin tertulis dari redaksi.",
    "Dilarang mengutip artikel di situs ini tanpa izin.",
    "Dilarang mengutip artikel di situs ini tanpa izin, kata menteri.",
    "Sponsored",
    "SPONSORED",
    "Sponsored content from the council",
    "The vote was delayed by the council",  # feed.drop.1: unanchored, "$" only
    "Note: the ferry runs hourly",
    "Note: the ferry runs hourly, the operator said",
    "Catatan: " + "jadwal " * 20,  # beyond the 60 characters of the lookahead
    "legal) notice",
    "legal) notice, not binding",
    "Warning: this site uses cookies",
    "Warning x) this site",
    "price: 12 euros",
    "price: twelve euros",
    "b",
    "de",
    "All content on this site is off limits for AI training.",  # feed.rights.1
    "Editor: Samuel Okafor",
    "Photographer: Dana Whitfield",
    "Pewarta : Rina Wulandsari",
    "Sumber: Anadolu",
    "",
    "   ",
    "Plain article sentence without boilerplate. Another one follows it!",
    # characters re folds to an ASCII letter that str.lower() does not: the needle tests must fold them alike
    "Semua hak cipta dil\u0131ndungi undang-undang.",
    "COPYR\u0130GHT 2026 Harbour Ledger",
    "\u212alik di sini untuk berlangganan",
    "Todos los derechos re\u017fervados.",
]


@pytest.mark.parametrize("language", ["en", "id", None])
def test_apply_rules_matches_per_rule_semantics(language: str | None) -> None:
    """Prefilters change nothing: first matching rule in order, whole lines before line ends."""
    feed = CleaningRules(
        drop_patterns=(r"council$", r"(?i)^copyright\b", *TRICKY_PATTERNS),
        rights_patterns=(r"(?i)^(?=.*\bAI\b)all\b", r"(?i)^sponsored$"),
    )
    pages = "\n".join(
        clean_html(page(name)).text + "\n" + "\n".join(_page_lines(trafilatura.load_html(page(name))))
        for name in ("en_portal_article", "id_portal_article", "id_portal_inline", "en_prose_mentions")
    )
    text = "\n".join(RULE_LINES) + "\n" + pages
    text += "\r\n" + "\u2028".join(RULE_LINES) + "\x0c" + "\r\n".join(reversed(RULE_LINES))  # other line breaks
    rights_only = [rule for rule in compile_rules(feed, language) if rule.action == "rights"]
    # Feed rules are never tail rules: a tail rule with a prefilter, tried before the built-in ones.
    see_also = Rule("t.see-also", re.compile(r"(?i)^(?=.{0,80}$)(?!.*\bsaid\b)see\s+also\b.*$"), "drop", tail=True)
    with_tail = (see_also, *compile_rules(feed, language))
    fired = {removed.rule for removed in reference_apply(text, with_tail)[1]}
    assert {f"feed.drop.{i}" for i in range(1, 9)} | {"feed.rights.1", "feed.rights.2", "t.see-also"} <= fired
    assert {"en.read-more", "id.read-also", "en.credits", "id.credits"} <= fired
    for rules in (with_tail, compile_rules(feed, language), compile_rules(CleaningRules(), language), rights_only):
        expected = reference_apply(text, rules)
        for _ in range(2):  # twice: nothing carries over between calls
            kept, removed, reservations = apply_rules(text, rules)
            assert (kept, removed, [(r.rule, r.text) for r in reservations]) == expected
        for line in RULE_LINES:  # one line at a time: texts too short for the needle search over the whole text
            assert apply_rules(line, rules)[:2] == reference_apply(line, rules)[:2], line
        for rule in rules:
            prefilter = _prefilter(rule.pattern)
            for line in map(str.strip, text.splitlines()):
                if rule.pattern.search(line):
                    assert prefilter is None or prefilter.search(line), (rule.id, line)
                    assert may_contain(rule.needles, line, fold(line)), (rule.id, line)


def test_the_folded_lines_match_their_rules_only_through_case_folding() -> None:
    """The lines above that need re's case folding (dotless i, dotted capital I, Kelvin sign, long s) do match
    their rules, and their needles are found only in the folded text, not in str.lower()'s."""
    rules = {rule.id: rule for rule in compile_rules(CleaningRules())}
    for rule_id, line in [
        ("id.all-rights", "Semua hak cipta dil\u0131ndungi undang-undang."),
        ("id.copyright", "COPYR\u0130GHT 2026 Harbour Ledger"),
        ("id.click-here", "\u212alik di sini untuk berlangganan"),
        ("es.rights-reserved", "Todos los derechos re\u017fervados."),
    ]:
        rule = rules[rule_id]
        assert rule.pattern.search(line), rule_id
        assert may_contain(rule.needles, line, fold(line)), rule_id
    assert not may_contain(rules["id.all-rights"].needles, "dil\u0131ndungi", "dil\u0131ndungi")


def test_needles_of_patterns_are_what_every_match_must_contain() -> None:
    cases = {
        r"(?i)^(?=.*\b(?:newsletter|whatsapp)\b)(?:sign|join)\b": (
            "newsletter",
            "whatsapp",
        ),  # the lookahead's words: longer than the others
        r"(?i)^(?:.{0,150}?[.,;|]\s+)?alle\s+rechte\s+vorbehalten\.?$": ("vorbehalten",),
        r"(?i)\b(?:artificial\s+intelligence|(?-i:AI))\b": ("AI", "intelligence"),
        r"^[_\-=*]{3,}$": None,  # no literal required
        r"(?i)^caf\u00e9 (?:au|du)": ("caf",),  # é has case: sought only as far as ASCII goes
        r"^\u00a9 \d{4}": ("\u00a9 ",),
        r"(?:ab)+c|x(?:yz)?": ("ab", "x"),  # one of the branches' literals
        r"(?:ab)?c*|d": None,  # a branch that needs nothing
    }
    for source, expected in cases.items():
        found = needles(re.compile(source))
        assert (tuple(sorted(n for n, _ in found.found)) if found else None) == expected, source
    case_sensitive = needles(re.compile(r"(?i)\b(?:artificial\s+intelligence|(?-i:AI))\b"))
    assert case_sensitive is not None
    assert may_contain(case_sensitive, "AI", "ai") and not may_contain(case_sensitive, "ai", "ai")


def test_any_of_finds_exactly_the_literals() -> None:
    words = ["no ai", "no all", "no", "reserv", "réserv", "4(3)", "a.b"]
    pattern = any_of(words)
    for text in ["no", "kno", "4(3)", "axb", "a.b", "réserve", "reserved", "n o", "", "4(3", "no al"]:
        assert bool(pattern.search(text)) == any(word in text for word in words), text
    assert any_of([]).search("anything") is None


def test_finder_finds_every_text_holding_a_literal_at_code_point_offsets() -> None:
    words = ["no ai", "no all", "no", "reserv", "réserv", "4(3)", "a.b"]
    automaton = finder(words)
    for text in ["no", "kno", "4(3)", "axb", "a.b", "réserve", "reserved", "n o", "", "4(3", "no al", "“é” 🙂 réserv"]:
        matches = automaton.find_matches_as_indexes(text)
        assert bool(matches) == any(word in text for word in words), text
        assert all(text[start:end] == words[index] for index, start, end in matches), text
    assert finder([]).find_matches_as_indexes("anything") == []


def reference_page_language(tree: Any) -> str | None:
    """The page language as first written, with XPath."""
    declared = [tree.get("lang"), tree.get("xml:lang")]
    declared += tree.xpath(
        "//meta[translate(@http-equiv,'CONTENT-LANGUAGE','content-language')='content-language']/@content"
        " | //meta[@property='og:locale']/@content"
    )
    for value in declared:
        if value and (match := re.match(r"^\s*([A-Za-z]{2,3})(?:[-_]|\s*$)", value)):
            return match.group(1).lower()
    return None


def reference_canonical_links(tree: Any) -> list[str]:
    """The canonical links as first written, with XPath."""
    return [
        (link.get("href") or "").strip()
        for link in tree.xpath("//head//link[@rel and @href]")
        if "canonical" in (link.get("rel") or "").lower().split()
    ]


HEAD_SNIPPETS = [
    "<html><head><meta http-equiv='CONTENT-Language' content='ms-MY'></head><body><p>x</p></body></html>",
    "<html><head><meta http-equiv='content-languages' content='ms'><meta property='og:locale' content='pt_BR'>"
    "</head><body><p>x</p></body></html>",
    "<html><body><p>x</p><meta property='og:locale' content=''><meta http-equiv='Content-Language' content='nl'>"
    '<script type=\'application/ld+json\'>{"dateModified": "2026-11-02T10:00"}</script></body></html>',
    "<html lang=''><head><meta name='ROBOTS ' content='noai'><meta name='tdm-reservation'>"
    "<meta property='article:modified_time' content='2026-10-01'><script>var a;</script></head><body/></html>",
    "<html><head><link rel='Canonical alternate' href=' /a '><link rel='canonical'><link href='/x'></head>"
    "<body><link rel='canonical' href='/in-body'><p>x</p></body></html>",
    "<html><head><script type='application/ld+json'>not json</script><script type='application/ld+json'>"
    '[{"@graph": [{"dateModified": "2026-09-30"}]}]</script></head><body><p>x</p></body></html>',
]


def test_the_page_head_walk_reads_what_the_xpath_queries_read() -> None:
    """One walk of the tree for <meta> and <script> gives the language, modified date and meta signals that the
    separate XPath queries gave, on the fixture pages and on metas in odd places and cases."""
    from feedvault.cleaning import PageHead, _modified_date, _page_language
    from feedvault.permission.signals import canonical_links, scan_tree

    demo = Path(__file__).parent.parent / "feedvault" / "demo" / "site"
    fixtures = [*sorted(PAGES.glob("*.html")), *sorted(demo.rglob("*.html"))]
    for html in [*(p.read_text(encoding="utf-8") for p in fixtures), *HEAD_SNIPPETS]:
        tree = trafilatura.load_html(html)
        head = PageHead.of(tree)
        assert _page_language(tree, head) == reference_page_language(tree), html[:80]
        xpath_metas = tree.xpath("//meta[@name]")
        assert [m for m in head.metas if m.get("name") is not None] == xpath_metas
        scripts = tree.xpath('//script[@type="application/ld+json"]')
        assert [s for s in head.scripts if s.get("type") == "application/ld+json"] == scripts
        assert list(head.h1) == list(tree.iter("h1"))
        assert canonical_links(tree, head) == reference_canonical_links(tree)
        assert scan_tree(tree, CleaningRules(), head) == scan_tree(tree, CleaningRules())
    assert _modified_date(PageHead.of(trafilatura.load_html(HEAD_SNIPPETS[2]))) == "2026-11-02"
    assert canonical_links(trafilatura.load_html(HEAD_SNIPPETS[4])) == ["/a"]
    assert _modified_date(PageHead.of(trafilatura.load_html(HEAD_SNIPPETS[5]))) == "2026-09-30"
    assert (
        _page_language(trafilatura.load_html(HEAD_SNIPPETS[0]), PageHead.of(trafilatura.load_html(HEAD_SNIPPETS[0])))
        == "ms"
    )


PAGE_SNIPPETS = [
    "<html><body><div>a<script>b</script>c<!-- k -->d<p>e</p>f</div>g<br>h<style>x</style></body></html>",
    "<html><head><title>T</title></head><body><nav><a>Home</a> <a>News</a></nav><p>x <b>y</b> z</p>"
    "<svg><text>no</text></svg>tail<noscript><p>n</p></noscript><template><p>t</p></template></body></html>",
    "<html><body><p>a</p></body>after</html>",
    "<html><frameset><frame src='x'></frameset></html>",
    "<html><body><ul><li>one<li>two</ul><table><tr><td>c1<td>c2</table>a\xa0b\u2028c\x0cd</body></html>",
    "<html><body>" + "".join(f"{tag}<{tag}>in {tag}</{tag}>" for tag in (*_BLOCKS, *_SKIPPED)) + "end</body></html>",
]


def reference_page_lines(tree: Any) -> list[str]:
    """The page text as first written: drop the skipped elements, break lines around blocks, text_content()."""
    body = next(iter(tree.xpath("//body")), tree)
    for element in list(body.iter(*_SKIPPED)):
        element.drop_tree()
    for element in body.iter(*_BLOCKS):
        element.text = "\n" + (element.text or "")
        element.tail = "\n" + (element.tail or "")
    lines = (" ".join(line.split()) for line in body.text_content().splitlines())
    return [line for line in lines if line]


def test_page_lines_match_the_tree_walk_and_leave_the_tree_alone() -> None:
    from lxml import etree

    demo = Path(__file__).parent.parent / "feedvault" / "demo" / "site"
    htmls = [p.read_text(encoding="utf-8") for p in [*sorted(PAGES.glob("*.html")), *sorted(demo.rglob("*.html"))]]
    for html in [*htmls, *PAGE_SNIPPETS]:
        tree = trafilatura.load_html(html)
        before = etree.tostring(tree)
        assert _page_lines(tree) == reference_page_lines(trafilatura.load_html(html)), html[:80]
        assert etree.tostring(tree) == before


ODD_INPUTS = [
    "just text",
    "<p>a fragment</p>",
    "<div>a</div><div>b</div>",
    "<!DOCTYPE html>\n<html><body><p>a</p></body></html>",
    "<html/>\n<body><p>self-closing html</p></body>",
    "<html><body>\x00\x0ba\ufffe</body></html>",
    '<?xml version="1.0" encoding="utf-8"?><html><body><p>declared</p></body></html>',
    "<html><body>" + "<div>" * 300 + "<p>too deep</p>" + "</div>" * 300 + "</body></html>",
    "<!-- c --><?pi x?><html><body>&amp;&nbsp;<form><input name=a><textarea>t</textarea><label>l</label></form></body></html>",
]


def test_page_parse_gives_trafilaturas_tree_and_parser_errors_with_plain_element_classes() -> None:
    """feedvault.cleaning.parsing.load_html is trafilatura.load_html with lxml's C class lookup: the same tree (and
    FATAL errors) on every page we hold and on odd input, but form elements are plain HtmlElement."""
    from lxml import etree
    from lxml.html import HtmlElement
    from trafilatura.utils import HTML_PARSER

    from feedvault.cleaning.parsing import load_html, page_parser

    def fatal(parser: Any) -> list[tuple[str, int]]:
        return [(e.type_name, e.line) for e in parser.error_log if e.level == etree.ErrorLevels.FATAL]

    demo = Path(__file__).parent.parent / "feedvault" / "demo" / "site"
    htmls = [p.read_text(encoding="utf-8") for p in [*sorted(PAGES.glob("*.html")), *sorted(demo.rglob("*.html"))]]
    htmls += [render(p) for p in EVAL_PAGES]  # the cleaner's evaluation set
    for html in [*htmls, *PAGE_SNIPPETS, *HEAD_SNIPPETS, *ODD_INPUTS]:
        theirs = trafilatura.load_html(html)
        their_errors = fatal(HTML_PARSER)
        ours = load_html(html)
        assert (ours is None) == (theirs is None), html[:80]
        if ours is not None:
            assert etree.tostring(ours.getroottree()) == etree.tostring(theirs.getroottree()), html[:80]
        assert fatal(page_parser()) == their_errors, html[:80]
    assert load_html("just text") is None and fatal(page_parser()) == []
    tree = load_html(ODD_INPUTS[-1])
    assert tree is not None
    assert {type(e) for e in tree.iter("form", "input", "textarea", "label")} == {HtmlElement}
    assert type(next(trafilatura.load_html(ODD_INPUTS[-1]).iter("form"))) is not HtmlElement  # lxml.html's FormElement


def test_to_dict_is_asdict(id_article: CleanResult) -> None:
    import dataclasses

    result = dataclasses.replace(id_article, metadata=id_article.metadata | {"nested": {"a": [1, {"b": [2]}]}})
    data = result.to_dict()
    assert data == dataclasses.asdict(result)
    assert list(data) == list(dataclasses.asdict(result))
    data["metadata"]["tags"].append("x")
    data["metadata"]["nested"]["a"][1]["b"].append(3)
    assert result.metadata["tags"] == ["turki", "logistik", "asia tengah"]
    assert result.metadata["nested"] == {"a": [1, {"b": [2]}]}
