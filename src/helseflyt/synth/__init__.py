"""A synthetic Norwegian population for demos, tests and benchmarks.

``write(out, patients, seed, fmt="bundle"|"ndjson")`` streams a deterministic population
(same seed, same bytes) to disk; ``generate(patients, seed)`` yields it as resources.
See docs/norway.md.
"""

from __future__ import annotations

from helseflyt.synth.generator import AS_OF, FORMATS, Summary, generate, transaction, write

__all__ = ["AS_OF", "FORMATS", "Summary", "generate", "transaction", "write"]
