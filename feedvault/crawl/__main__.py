"""``python -m feedvault.crawl``: run a plan in a fresh process (:func:`feedvault.crawl.runner.main`).

The crawl's entry is a package ``__main__`` because multiprocessing never imports one of those in child processes:
the extraction workers then load only what cleaning needs (trafilatura, lxml), not Scrapy, Twisted or boto3,
which a module entry (``-m feedvault.crawl.runner``) made every worker import again (~25 MB each).
"""

if __name__ == "__main__":
    from feedvault.crawl.heap import bound_heap

    bound_heap()  # before any thread: its peak memory must not grow with the articles it moves

    from feedvault.crawl.runner import main

    raise SystemExit(main())
