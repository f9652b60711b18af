"""Crawling feeds: the runner, feed documents to entries, the SSRF guard, seen state, the spool and the extraction pool."""
