"""Imported by the extraction pool's forkserver (a preload module): it dies with the crawler that started it."""

from feedvault.crawl.lifeline import die_with_parent

die_with_parent()
