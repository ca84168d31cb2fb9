"""The config vocabulary every layer shares: strict pydantic models, TOML reading, one-line errors.

No torch here (validating a config stays instant). Every config file maps onto a model built from
:class:`Strict` (unknown keys are refused, so a typo never silently falls back to a default);
:func:`validate` and :func:`load_toml` turn pydantic's errors into one
:class:`~semlink.errors.SemlinkError` line naming the bad key and value.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from semlink.errors import SemlinkError

__all__ = ["DbList", "Strict", "format_validation_error", "load_toml", "read_toml", "validate"]

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite_db_list(values: list[float]) -> list[float]:
    if len(values) == 0:
        raise ValueError("is empty; give at least one value in dB")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise ValueError(f"contains non-finite values {bad}; every value must be a finite number of dB")
    return values


DbList = Annotated[list[float], AfterValidator(_finite_db_list)]
"""A non-empty list of finite dB values (SNR points)."""


def format_validation_error(err: ValidationError, source: str = "config") -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r} (not an accepted setting; check its spelling and section)")
            continue
        if e["type"] == "missing":
            parts.append(f"missing required setting {loc!r}")
            continue
        if e["type"] == "value_error":  # our own validators: the message already names the value
            message = e["msg"].removeprefix("Value error, ")
            parts.append(message if loc == "(root)" else f"{loc}: {message}")
            continue
        value = e.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
        parts.append(f"{loc}: {e['msg']}{shown}")
    return f"invalid {source}: " + "; ".join(parts)


def validate(model: type[Model], data: dict[str, Any], source: str = "config") -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise SemlinkError(format_validation_error(err, source)) from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SemlinkError(f"config file {str(path)!r} does not exist; give the path of a TOML file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SemlinkError(f"config file {str(path)!r} is not valid TOML: {err}") from None


def load_toml(model: type[Model], path: str | os.PathLike[str]) -> Model:
    return validate(model, read_toml(path), source=f"config {str(path)!r}")
