"""``python -m semlink.cli``: the command line."""

from semlink.cli import main

main()
