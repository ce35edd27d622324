"""``python -m cnninspect``."""

from .cli import main

main()
