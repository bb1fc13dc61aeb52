"""``python -m flagship.sandbox``: the ``flagship`` command line."""

from flagship.sandbox.cli import main

main()
