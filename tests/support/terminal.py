"""Start a command as a job in an interactive terminal would run: with Ctrl-C (SIGINT) at its default action.

A shell without job control starts background commands with SIGINT ignored, and an ignored signal stays ignored
across exec (a bash script cannot even trap it): a test run from such a shell (``cmd &``, ``nohup``, some CI
runners) would see a recipe ignore the Ctrl-C it tests. Pass ``preexec_fn=sigint_as_in_a_terminal``.
"""

from __future__ import annotations

import signal


def sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
