"""`python -m audit.cli`: the hulian command."""

from audit.cli.app import main

main()
