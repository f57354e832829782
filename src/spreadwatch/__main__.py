"""``python -m spreadwatch``: the command line."""

from spreadwatch.cli import main

main()
