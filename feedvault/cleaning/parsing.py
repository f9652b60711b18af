"""A decoded page parsed as ``trafilatura.load_html`` parses it, with its element classes chosen in C.

``lxml.html``'s parser picks each element's Python class with a Python callback (``HtmlElementClassLookup.lookup``),
called every time a Python proxy of an element is made: trafilatura makes thousands per page (its pruning,
readability and metadata passes), so on real pages that callback alone took about 5% of the cleaner's time.
:func:`load_html` takes the same steps as ``trafilatura.load_html`` for a string, with a parser of the same
options whose lookup is lxml's C default lookup: every element is an ``HtmlElement`` (comments, entities and
processing instructions keep their ``lxml.html`` classes). The only difference is that ``<form>``, ``<input>``,
``<select>``, ``<textarea>`` and ``<label>`` are plain ``HtmlElement`` instead of the form subclasses, whose
form-filling API neither trafilatura nor feedvault uses. The trees are the same (``tests/test_cleaning.py``
compares them on the evaluation pages and odd inputs).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement, HTMLParser


@lru_cache(maxsize=1)
def page_parser() -> HTMLParser:
    """The parser :func:`load_html` uses (one per process; its ``error_log`` is that of its last parse)."""
    from lxml import etree, html

    parser = html.HTMLParser(  # trafilatura.utils.HTML_PARSER's options
        collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
    )
    parser.set_element_class_lookup(
        etree.ElementDefaultClassLookup(
            element=html.HtmlElement,
            comment=html.HtmlComment,
            pi=html.HtmlProcessingInstruction,
            entity=html.HtmlEntity,
        )
    )
    return parser


def load_html(page: str) -> HtmlElement | None:
    """``trafilatura.load_html(page)`` for a decoded page, parsed with :func:`page_parser`: repaired as trafilatura
    repairs it, parsed as text (as UTF-8 bytes if lxml refuses the text or finds no element), and None for
    text that is not HTML (no "html" in its first 50 characters and fewer than two top elements)."""
    from lxml.html import fromstring
    from trafilatura.utils import is_dubious_html, repair_faulty_html

    beginning = page[:50].lower()
    dubious = is_dubious_html(beginning)
    page = repair_faulty_html(page, beginning)
    tree, as_bytes = None, False
    try:
        tree = fromstring(page, parser=page_parser())
    except ValueError:  # "Unicode strings with encoding declaration are not supported"
        tree, as_bytes = _from_bytes(page), True
    except Exception:  # trafilatura logs it and goes on, as here
        tree = None
    if (tree is None or len(tree) < 1) and not as_bytes:
        tree = _from_bytes(page)
    if tree is not None and dubious and len(tree) < 2:
        return None
    return tree


def _from_bytes(page: str) -> HtmlElement | None:
    from lxml.html import fromstring

    try:
        return fromstring(page.encode("utf8", "surrogatepass"), parser=page_parser())
    except Exception:  # trafilatura's fromstring_bytes: no tree
        return None
