"""The one registry mechanism: names → objects, loaded lazily from ``"module:attr"`` entries.

Every pluggable kind of semlink — system types, datasets, image encoders, image codecs, the Multi-SC
stages (segmenters, captioners, correctors, reconstructors) and ONNX exporters — is a
:class:`Registry`. A built-in entry is a ``"module:attr"`` string, imported only when the name is
first used (so listing or validating names stays fast and no module imports its plug-ins, which
is what kept import cycles away); code can also register an object directly (a decorator), and
installed packages add entries through a Python entry-point group (``semlink.systems``,
``semlink.datasets``, ...: ``name = "my_pkg.module:attr"`` in their ``pyproject.toml``).

Spec strings of the form ``<name>[:<argument>]`` (``"u2netp"``, ``"llava:/models/llava-0.5b"``)
are built by :meth:`Registry.create`: the part before the first ``:`` names the entry, the rest (a
local folder or file for model backends) is handed to its factory.

>>> reg = Registry("greeter", {"hello": "semlink.registry:_example_hello"})
>>> reg.create("hello", punctuation="?")
'hello?'
>>> @reg.register("bye", takes_argument="optional", argument_help="<name>")
... def _bye(argument, **options):
...     return "bye " + (argument or "all")
>>> reg.create("bye:Ann"), reg.available()
('bye Ann', ['bye[:<name>]', 'hello'])
>>> reg.create("ciao")
Traceback (most recent call last):
...
semlink.errors.SemlinkError: unknown greeter 'ciao'; accepted: bye[:<name>], hello
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from semlink.errors import SemlinkError, choice_error, require

__all__ = ["Registry", "load_target", "split_spec"]

T = TypeVar("T")
ArgumentRule = Literal["never", "optional", "required"]


def load_target(target: str, what: str = "entry") -> Any:
    """Import ``"package.module:attr"`` (``attr`` may be dotted) and return the attribute."""
    module_name, sep, attr = target.partition(":")
    require(bool(sep and module_name and attr), f"{what} {target!r} is not of the form 'module:attr'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise SemlinkError(f"{what} {target!r} cannot be imported: {err}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SemlinkError(f"{what} {target!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


@dataclass
class _Entry:
    target: Any  # "module:attr" (not loaded yet) or the object itself
    takes_argument: ArgumentRule
    argument_help: str

    def load(self, what: str) -> Any:
        if isinstance(self.target, str):
            self.target = load_target(self.target, what)
        return self.target


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"llava:/models/x"`` → ``("llava", "/models/x")``; ``"u2netp"`` → ``("u2netp", None)``.

    The name is lower-cased and stripped; the argument keeps its case (it is usually a path).
    """
    require(isinstance(spec, str) and spec.strip() != "", f"spec must be a non-empty string, got {spec!r}")
    name, sep, argument = spec.strip().partition(":")
    if sep and not argument.strip():
        raise SemlinkError(f"spec {spec!r} has an empty part after ':'")
    return name.strip().lower(), (argument.strip() if sep else None)


class Registry(Generic[T]):
    """Objects of one kind by name (see the module docstring).

    :param what: what the registry holds, for messages (``"captioner"``).
    :param builtins: ``{name: "module:attr"}`` entries, loaded on first use; a value may also be
        ``("module:attr", takes_argument, argument_help)`` for spec-string factories.
    :param entry_points: the Python entry-point group whose entries are added (``"semlink.systems"``);
        read once, the first time the registry is asked for a name it does not hold or for its list.
    """

    def __init__(self, what: str, builtins: dict[str, Any] | None = None, entry_points: str | None = None) -> None:
        self.what = what
        self._entries: dict[str, _Entry] = {}
        self._entry_point_group = entry_points
        self._entry_points_read = entry_points is None
        for name, value in (builtins or {}).items():
            target, rule, argument_help = (value, "never", "<path>") if isinstance(value, str) else value
            self.add(name, target, takes_argument=rule, argument_help=argument_help)

    # -- filling ------------------------------------------------------------------------------------
    def add(self, name: str, target: Any, *, takes_argument: ArgumentRule = "never",
            argument_help: str = "<path>") -> None:
        """Register ``target`` (an object, or a ``"module:attr"`` string loaded on first use) under ``name``."""
        require(isinstance(name, str) and name.strip() != "", f"{self.what} name must be a non-empty string")
        self._entries[name.strip().lower()] = _Entry(target, takes_argument, argument_help)

    def register(self, name: str, *, takes_argument: ArgumentRule = "never",
                 argument_help: str = "<path>") -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@REGISTRY.register("name")`` above a class or factory."""

        def _register(obj: T) -> T:
            self.add(name, obj, takes_argument=takes_argument, argument_help=argument_help)
            return obj

        return _register

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self._entry_point_group):
            if ep.name.lower() not in self._entries:  # a built-in name is never shadowed by a plug-in
                self.add(ep.name, ep.value)

    # -- reading ------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, sorted (plug-ins included)."""
        self._read_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name.strip().lower() not in self._entries:
            self._read_entry_points()
        return name.strip().lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def available(self) -> list[str]:
        """Accepted spellings, e.g. ``["none", "symspell", "bart:<dir>"]``."""
        out = []
        for name in self.names():
            entry = self._entries[name]
            if entry.takes_argument == "never":
                out.append(name)
            elif entry.takes_argument == "optional":
                out.append(f"{name}[:{entry.argument_help}]")
            else:
                out.append(f"{name}:{entry.argument_help}")
        return out

    def get(self, name: str) -> T:
        """The object registered as ``name`` (imported now if it was a ``"module:attr"`` entry)."""
        if name not in self:
            raise choice_error(self.what, name, self.available())
        return self._entries[name.strip().lower()].load(f"{self.what} {name!r}")

    def check_options(self, name: str, options: dict[str, Any], accepted: set[str]) -> None:
        """Refuse ``options`` that backend ``name``'s factory does not take, listing the ones it does.

        >>> Registry("greeter").check_options("hello", {"volume": 3}, {"punctuation"})
        Traceback (most recent call last):
        ...
        semlink.errors.SemlinkError: greeter 'hello' takes no option(s) ['volume']; accepted: ['punctuation']
        """
        extra = sorted(set(options) - accepted)
        if extra:
            raise SemlinkError(f"{self.what} {name!r} takes no option(s) {extra}; accepted: {sorted(accepted)}")

    def create(self, spec: str, **options: Any) -> Any:
        """Build the backend named by ``spec`` (``name[:argument]``): ``factory(argument, **options)``.

        Raises :class:`SemlinkError` for an unknown name, an argument where none is taken or a
        missing one (the message lists the accepted spellings).
        """
        name, argument = split_spec(spec)
        if name not in self:
            raise choice_error(self.what, spec, self.available())
        entry = self._entries[name]
        if argument is not None and entry.takes_argument == "never":
            raise SemlinkError(f"{self.what} {name!r} takes no ':<argument>', got {spec!r}")
        if argument is None and entry.takes_argument == "required":
            raise SemlinkError(f"{self.what} {name!r} needs its model: '{name}:{entry.argument_help}', got {spec!r}")
        return entry.load(f"{self.what} {name!r}")(argument, **options)


def _example_hello(argument: str | None, *, punctuation: str = "!") -> str:
    """The docstring's example entry."""
    return "hello" + punctuation
