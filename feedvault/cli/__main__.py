"""``python -m feedvault.cli``: the ``feedvault`` command."""

from feedvault.cli import main

raise SystemExit(main())
