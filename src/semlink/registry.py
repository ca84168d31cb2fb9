"""Name → factory registries for spec strings of the form ``<name>[:<argument>]``.

The Multi-SC stages (segmenters, captioners, correctors, reconstructors) are built from short
strings such as ``"u2netp"``, ``"llava:/models/llava-0.5b"`` or ``"none"``: the part before the first
``:`` names a backend, the rest (a local folder or file for model backends) is handed to its factory.

>>> reg = Registry("greeter")
>>> @reg.register("hello", takes_argument="never")
... def _hello(argument, *, punctuation="!"):
...     return "hello" + punctuation
>>> reg.create("hello", punctuation="?")
'hello?'
>>> reg.create("bye")
Traceback (most recent call last):
...
semlink.errors.SemlinkError: unknown greeter 'bye'; accepted: hello
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from semlink.errors import SemlinkError, choice_error, require

T = TypeVar("T")
ArgumentRule = Literal["never", "optional", "required"]


@dataclass(frozen=True)
class _Entry(Generic[T]):
    factory: Callable[..., T]
    takes_argument: ArgumentRule
    argument_help: str


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
    """Backends of one stage by name; :meth:`create` builds one from a spec string.

    Parameters
    ----------
    what:
        What the registry holds, for messages (``"captioner"``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, _Entry[T]] = {}

    def register(
        self, name: str, *, takes_argument: ArgumentRule = "never", argument_help: str = "<path>"
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory(argument: str | None, **options) -> T`` under ``name``.

        ``takes_argument`` says whether ``name:<argument>`` is refused, optional or required;
        ``argument_help`` is how messages spell the argument (``"<dir>"``).
        """

        def _register(factory: Callable[..., T]) -> Callable[..., T]:
            self._entries[name.lower()] = _Entry(factory, takes_argument, argument_help)
            return factory

        return _register

    def available(self) -> list[str]:
        """Accepted spellings, e.g. ``["none", "symspell", "bart:<dir>"]``."""
        out = []
        for name, entry in sorted(self._entries.items()):
            if entry.takes_argument == "never":
                out.append(name)
            elif entry.takes_argument == "optional":
                out.append(f"{name}[:{entry.argument_help}]")
            else:
                out.append(f"{name}:{entry.argument_help}")
        return out

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

    def create(self, spec: str, **options: Any) -> T:
        """Build the backend named by ``spec``, passing ``options`` to its factory.

        Raises
        ------
        SemlinkError
            Unknown name, an argument where none is taken or a missing one (the message lists
            the accepted spellings).
        """
        name, argument = split_spec(spec)
        entry = self._entries.get(name)
        if entry is None:
            raise choice_error(self.what, spec, self.available())
        if argument is not None and entry.takes_argument == "never":
            raise SemlinkError(f"{self.what} {name!r} takes no ':<argument>', got {spec!r}")
        if argument is None and entry.takes_argument == "required":
            raise SemlinkError(
                f"{self.what} {name!r} needs its model: '{name}:{entry.argument_help}', got {spec!r}"
            )
        return entry.factory(argument, **options)
