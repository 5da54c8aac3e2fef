"""What a bulk load did: counts, time, and every error with where it happened."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LoadError:
    source: str  # file, or "archive.tar.gz:member"
    message: str
    line: int | None = None  # NDJSON line (1-based)
    entry: int | None = None  # Bundle.entry index (0-based)

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
        if self.entry is not None:
            where += f" Bundle.entry[{self.entry}]"
        return f"{where}: {self.message}"


@dataclass(slots=True)
class LoadReport:
    resources: int = 0  # resources stored (created, updated or deleted)
    seconds: float = 0.0
    documents: int = 0  # JSON files and NDJSON chunks read
    skipped: list[str] = field(default_factory=list)  # files of unknown kind in folders/archives
    errors: list[LoadError] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds > 0 else 0.0

    def summary(self, max_errors: int = 20) -> str:
        lines = [
            f"Loaded {self.resources:,} resources from {self.documents:,} documents in "
            f"{self.seconds:.2f} s ({self.rate:,.0f} resources/s); {len(self.errors):,} errors"
            + (f", {len(self.skipped)} files skipped" if self.skipped else "")
            + "."
        ]
        lines += [f"  {t}: {n:,}" for t, n in sorted(self.by_type.items())]
        for err in self.errors[:max_errors]:
            lines.append(f"error: {err}")
        if len(self.errors) > max_errors:
            lines.append(f"... and {len(self.errors) - max_errors} more errors")
        return "\n".join(lines)
