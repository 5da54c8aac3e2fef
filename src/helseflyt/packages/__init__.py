"""Implementation Guide packages: reading (``source``), installing into a store
(``install``) and the registry of installed profiles, value sets and code systems
(``registry``) that profile validation and terminology operations use. See docs/ig.md.
"""

from __future__ import annotations

from helseflyt.packages.install import InstalledPackage, InstallReport, install, installed
from helseflyt.packages.registry import CONFORMANCE_TYPES, LiveRegistry, Registry, load
from helseflyt.packages.source import Package, PackageError, read_package

__all__ = [
    "CONFORMANCE_TYPES",
    "InstallReport",
    "InstalledPackage",
    "LiveRegistry",
    "Package",
    "PackageError",
    "Registry",
    "install",
    "installed",
    "load",
    "read_package",
]
