"""What the archive holds and how it is kept: WARC, CDXJ, clean records, manifests, WACZ, the checker, gc and re-cleaning."""
