"""What a ``[[systems]]`` entry of a run config may say, per system type (pydantic, no torch).

Each type has its own spec class, so a key that belongs to another type is refused by name. The
spec class names the class that implements it (``implementation = "module:Class"``, imported only
when a run builds the system, so validating a config stays fast) and declares what the runner needs
to know before any data is loaded (:meth:`SystemSpec.check` against the run's link and channels,
:meth:`SystemSpec.preflight` for models on disk, ``needs_feature_dim``).

:data:`SYSTEM_TYPES` maps the config ``type`` to its spec class (:mod:`semlink.registry`: built-in
entries, :func:`register_system_type`, and the ``semlink.systems`` entry points of installed
plug-ins). A new scheme is a spec class, the class that implements it, and one entry here.

A spec that takes a channel-use *budget* (``channel_uses``: one value or a list) is expanded into
one system per budget; without ``channel_uses`` it takes the run's ``budgets``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from semlink.config import Strict
from semlink.registry import Registry

__all__ = ["SYSTEM_TYPES", "BudgetSpec", "SystemSpec", "parse_system_spec", "register_system_type"]


class SystemSpec(Strict):
    """Fields every system entry has, and the hooks the runner calls."""

    type: str
    name: str | None = None  # the results' `system` column; default: the type

    implementation: ClassVar[str] = ""  # "module:Class" of the system class (semlink.systems.base.SystemBase)
    takes_budget: ClassVar[bool] = False
    needs_feature_dim: ClassVar[bool] = False  # its channel uses depend on the feature size (dry runs open the encoder)

    @property
    def display_name(self) -> str:
        return self.name or self.type

    def budgets(self, run_budgets: list[int] | None) -> list[int | None]:
        """The channel-use budgets this entry is evaluated at (``[None]`` for schemes without one)."""
        return [None]

    def check(self, link, channels, run_budgets: list[int] | None) -> None:
        """Refuse (``ValueError`` / ``SemlinkError``) what cannot run on the run's ``link`` and ``channels``
        (:class:`~semlink.phy.spec.LinkSpec`, list of :class:`~semlink.phy.spec.ChannelSpec`), before any work."""

    def preflight(self) -> None:
        """Before any data or model is loaded: raise if something this entry needs is missing on disk."""


class BudgetSpec(SystemSpec):
    """A scheme held to a channel-use budget: complex channel symbols per image."""

    channel_uses: int | list[int] | None = None

    takes_budget: ClassVar[bool] = True

    @field_validator("channel_uses")
    @classmethod
    def _positive(cls, value):
        values = value if isinstance(value, list) else [value] if value is not None else []
        if isinstance(value, list) and not value:
            raise ValueError("is an empty list; give at least one budget in channel uses")
        bad = [v for v in values if v <= 0]
        if bad:
            raise ValueError(f"budgets must be positive numbers of channel uses, got {bad}")
        if len(set(values)) != len(values):
            raise ValueError(f"repeats a budget: {values}")
        return value

    def budgets(self, run_budgets: list[int] | None) -> list[int | None]:
        if self.channel_uses is not None:
            return list(self.channel_uses) if isinstance(self.channel_uses, list) else [self.channel_uses]
        if run_budgets:
            return list(run_budgets)
        raise ValueError(
            f"system {self.display_name!r} (type {self.type!r}) needs a channel-use budget: give channel_uses "
            "in its [[systems]] entry or a run-level budgets list"
        )


SYSTEM_TYPES: Registry[type[SystemSpec]] = Registry("system type", {
    "kbsc": "semlink.systems.specs.kbsc:KbscSpec",
    "kbsc+labels": "semlink.systems.specs.kbsc:KbscLabelsSpec",
    "kbsc-digital": "semlink.systems.specs.kbsc:KbscDigitalSpec",
    "raw": "semlink.systems.specs.reference:RawSpec",
    "noiseless": "semlink.systems.specs.reference:NoiselessSpec",
    "bpg+ldpc": "semlink.systems.specs.image:SeparationSpec",
    "bpg+capacity": "semlink.systems.specs.image:CapacitySpec",
    "deep-jscc": "semlink.systems.specs.image:JsccSpec",
    "linear-analog": "semlink.systems.specs.image:LinearAnalogSpec",
    "multi-sc": "semlink.systems.specs.multisc:MultiScSpec",
    "single-text-sc": "semlink.systems.specs.multisc:MultiScSpec",
    "vlm-csc": "semlink.systems.specs.multisc:MultiScSpec",
}, entry_points="semlink.systems")
"""Config ``type`` → spec class. Plug-ins: :func:`register_system_type`, or an entry point
``my-scheme = "my_pkg.module:MySchemeSpec"`` in the group ``semlink.systems``."""


def register_system_type(type_name: str, spec_class: type[SystemSpec] | str) -> None:
    """Make ``[[systems]] type = "<type_name>"`` build ``spec_class`` (a :class:`SystemSpec` subclass whose
    ``implementation`` names its system class; or its ``"module:Class"``)."""
    SYSTEM_TYPES.add(type_name, spec_class)


def parse_system_spec(data: Any, where: str = "[[systems]] entry") -> SystemSpec:
    """Validate one ``[[systems]]`` entry against its type's spec class.

    Raises ``ValueError`` with one line naming the entry, the bad key or value and what is accepted.
    """
    from pydantic import ValidationError

    from semlink.config import format_validation_error

    if isinstance(data, SystemSpec):
        return data
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"{where} needs a type; accepted: {', '.join(SYSTEM_TYPES.names())}")
    kind = data["type"]
    if not isinstance(kind, str) or kind not in SYSTEM_TYPES:
        raise ValueError(f"{where}: unknown system type {kind!r}; accepted: {', '.join(SYSTEM_TYPES.names())}")
    try:
        return SYSTEM_TYPES.get(kind).model_validate(data)
    except ValidationError as err:
        raise ValueError(format_validation_error(err, f"{where} (type {kind!r})")) from None
