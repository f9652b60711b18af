"""feedvault: a permission-first nightly archive of news feeds (WARC + clean text in S3-compatible storage).

``feedvault.clean_html(html, url=None)`` is the cleaner on its own. It is exported lazily, so importing the
package (as Airflow's DAG files do) stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CleanOptions", "CleanResult", "clean_html"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from feedvault import cleaning

        return getattr(cleaning, name)
    raise AttributeError(f"module 'feedvault' has no attribute {name!r}")
