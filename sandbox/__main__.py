"""``python -m sandbox``: the ``flagship`` command line."""

from sandbox.cli import main

main()
