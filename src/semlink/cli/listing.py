"""``semlink list [systems|datasets|encoders|codecs|channels|keys]``: what exists, plug-ins included.

Every kind comes from its registry (:mod:`semlink.registry`): the built-in entries, the Python entry
points of installed plug-ins (marked ``[plug-in: <package>]``) and whatever ``--plugin`` modules
register when imported (as a config's ``plugins`` key would). ``keys`` lists the run config's keys
with their types and defaults, and each system type's own keys.
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Any

import typer

from semlink.errors import SemlinkError, choice_error

KINDS = ("systems", "datasets", "encoders", "codecs", "channels", "keys")

# kind → (module holding its registry, the registry's name, its entry-point group)
_REGISTRIES = {
    "systems": ("semlink.systems.specs", "SYSTEM_TYPES", "semlink.systems"),
    "datasets": ("semlink.data.base", "DATASETS", "semlink.datasets"),
    "encoders": ("semlink.tx.encoders.registry", "ENCODERS", "semlink.encoders"),
    "codecs": ("semlink.tx.codecs.base", "CODECS", "semlink.codecs"),
}
_ENCODER_FORMS = {"clip": "clip:<model>[@<weights tag or file>][+<N>px]",
                  "efficientnet-lite0": "efficientnet-lite0[@<weights tag or file>][+<N>px]"}


def _registry(kind: str):
    import importlib

    module, name, _ = _REGISTRIES[kind]
    return getattr(importlib.import_module(module), name)


def _plugin_packages(kind: str) -> dict[str, str]:
    """``{name: distribution}`` of the entry points installed for ``kind``."""
    found = {}
    for ep in entry_points(group=_REGISTRIES[kind][2]):
        dist = getattr(ep, "dist", None)
        found[ep.name.lower()] = dist.name if dist is not None else ep.value.split(":")[0]
    return found


def _summary(obj: Any) -> str:
    """The docstring's first sentence (it may run over several lines; reST markup as plain text)."""
    import re

    paragraph = " ".join((inspect.getdoc(obj) or "").strip().split("\n\n")[0].split())
    paragraph = re.sub(r":\w+:`~?([^`]+)`", r"\1", paragraph).replace("``", "")  # reST roles and literals as text
    sentence = re.match(r"(.+?\.)(\s|$)", paragraph)
    return (sentence.group(1) if sentence else paragraph).rstrip(".:;")


def _origin(name: str, obj: Any, plugins: dict[str, str]) -> str:
    if name in plugins:
        return f"  [plug-in: {plugins[name]}]"
    module = getattr(obj, "__module__", "") or ""
    return "" if module.split(".")[0] == "semlink" else f"  [plug-in: {module}]"


def list_systems() -> list[str]:
    registry, plugins = _registry("systems"), _plugin_packages("systems")
    lines = []
    for name in registry.names():
        spec = registry.get(name)
        lines.append(f"{name:<16} {_summary(spec)}{_origin(name, spec, plugins)}")
    return lines


def list_datasets() -> list[str]:
    registry, plugins = _registry("datasets"), _plugin_packages("datasets")
    lines = []
    for name in registry.names():
        loader = registry.get(name)
        summary = _summary(inspect.getmodule(loader)) or _summary(loader)
        lines.append(f"{name:<16} {summary}{_origin(name, loader, plugins)}")
    return lines


def list_encoders() -> list[str]:
    registry, plugins = _registry("encoders"), _plugin_packages("encoders")
    return [f"{_ENCODER_FORMS.get(name, name)}" + (f"  [plug-in: {plugins[name]}]" if name in plugins else "")
            for name in registry.names()]


def list_codecs() -> list[str]:
    registry, plugins = _registry("codecs"), _plugin_packages("codecs")
    return [name + (f"  [plug-in: {plugins[name.split('[')[0].split(':')[0]]}]"
                    if name.split("[")[0].split(":")[0] in plugins else "") for name in registry.available()]


def list_channels() -> list[str]:
    from semlink.phy.config import CHANNELS, FLAT_CHANNELS

    return [f"{name:<10} " + ("with or without an OFDM grid" if name in FLAT_CHANNELS else
                              "3GPP TR 38.901 model: needs [link] ofdm = {...}") for name in CHANNELS]


def _type_name(annotation: Any) -> str:
    """A field's type as a config writer reads it: ``int | list[int] | None``, ``'perfect' | 'ls'``."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join('...' if a is Ellipsis else _type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def _table(annotation: Any) -> Any:
    """The pydantic model of a nested table (``X`` or ``X | None``), else None."""
    import typing

    from pydantic import BaseModel

    candidates = [annotation, *typing.get_args(annotation)]
    return next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _model_keys(model: Any, prefix: str = "") -> list[str]:
    """``key  type = default`` for every field of a pydantic ``model``, nested tables flattened."""
    import json

    from pydantic import BaseModel

    lines = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        default = info.get_default(call_default_factory=True)
        table = _table(info.annotation)
        if table is not None and name not in ("systems", "channels"):
            if default is None:
                lines.append(f"{key:<34} table, optional = (none)")
            lines += _model_keys(table, f"{key}.")
            continue
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        shown = json.dumps(default, default=str) if default is not None else "(none)"
        lines.append(f"{key:<34} {_type_name(info.annotation)} = {shown}")
    return lines


def list_keys() -> list[str]:
    from semlink.sim.experiment_config import ExperimentConfig
    from semlink.systems.specs import SYSTEM_TYPES

    lines = ["run config (TOML; a table [x] holds the keys x.*):"]
    lines += ["  " + line for line in _model_keys(ExperimentConfig) if not line.startswith("systems ")]
    lines.append("  systems                            [[systems]] entries, each with a type and its keys:")
    for name in SYSTEM_TYPES.names():
        spec = SYSTEM_TYPES.get(name)
        keys = [line for line in _model_keys(spec) if not line.startswith("type ")]
        lines.append(f"    type = \"{name}\"")
        lines += ["      " + line for line in keys]
    return lines


LISTERS = {"systems": list_systems, "datasets": list_datasets, "encoders": list_encoders, "codecs": list_codecs,
           "channels": list_channels, "keys": list_keys}


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_(
        kind: str | None = typer.Argument(
            None, metavar="[systems|datasets|encoders|codecs|channels|keys]",
            help="What to list (default: everything but keys)."),
        plugin: list[str] | None = typer.Option(
            None, "--plugin", metavar="MODULE", help="Import this plug-in module first (as a config's plugins key "
            "does), so what it registers is listed; repeatable. Installed plug-ins need no flag."),
    ) -> None:
        """List the system types, datasets, encoders, codecs, channels or config keys semlink knows, plug-ins included."""
        from semlink.sim.experiment_config import import_plugins

        if kind is not None and kind not in KINDS:
            raise choice_error("kind", kind, KINDS)
        if plugin:
            try:
                import_plugins(list(plugin))
            except ValueError as err:
                raise SemlinkError(str(err)) from None
        kinds = [kind] if kind else [k for k in KINDS if k != "keys"]
        for i, name in enumerate(kinds):
            if len(kinds) > 1:
                typer.echo(("\n" if i else "") + f"{name}:")
            for line in LISTERS[name]():
                typer.echo(("  " if len(kinds) > 1 else "") + line)
