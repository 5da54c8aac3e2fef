"""Norwegian foundations: no-basis identifiers (:mod:`helseflyt.norway.identifiers`)."""
