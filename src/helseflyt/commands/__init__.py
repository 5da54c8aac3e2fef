"""Sub-commands of the ``helseflyt`` CLI, one module per group."""
