"""Sub-commands of ``helseflyt`` that live outside ``cli.py`` (registered there)."""
