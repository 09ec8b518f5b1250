"""`python -m telehealth …` is the `telehealth` command."""

from .cli import main

main()
