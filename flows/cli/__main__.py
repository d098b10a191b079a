"""``python -m steward.flows.cli``: the ``steward`` command without its console script."""

from . import main

main()
