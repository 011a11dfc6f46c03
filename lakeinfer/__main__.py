"""``python -m lakeinfer``: the ``lakeinfer`` command."""

from lakeinfer.cli import main

main()
