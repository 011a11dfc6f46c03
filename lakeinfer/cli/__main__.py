"""``python -m lakeinfer.cli``."""

from lakeinfer.cli import main

main()
