"""The cleaner's evaluation set (bench/eval_pages.py) meets its targets, page by page (the bench's checks, no timing)."""

from __future__ import annotations

import pytest

from bench.eval_pages import PAGES, TARGET_PAGE_F1, evaluate


def test_the_set_covers_five_languages_sixteen_pages_and_distinct_layouts() -> None:
    assert len(PAGES) >= 16
    assert len({page.language for page in PAGES}) >= 5
    assert len({page.layout for page in PAGES}) >= 5
    assert len({page.name for page in PAGES}) == len(PAGES)
    assert any(page.notices for page in PAGES) and any(not page.notices for page in PAGES)
    families = {family for page in PAGES for family, _ in page.must_not_survive}
    assert {"related", "promo", "embed", "credits", "rights"} <= families


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_eval_page_is_cleaned_to_its_gold_text_and_its_notices_found(page) -> None:
    result = evaluate(page)
    assert result.surviving == [], "boilerplate survived"
    assert result.lost == [], "gold text lost"
    assert result.missing_notices == [] and result.false_notices == []
    assert result.f1 >= TARGET_PAGE_F1
