"""Packages whose public names load from their submodules on first use (PEP 562).

Keeps ``import semlink.<package>`` cheap where a caller needs only a light part of it (the CLI
validating a config must not import torch, Sionna or FAISS).

>>> getattr_, dir_ = lazy_exports("semlink.metrics", {"binomial_ci": "intervals"})
>>> getattr_("binomial_ci").__name__
'binomial_ci'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: name → its submodule (relative), imported on first use."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
