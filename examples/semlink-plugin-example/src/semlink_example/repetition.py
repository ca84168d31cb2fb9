"""``type = "repetition"``: the feature, randomly projected to fit the budget, each symbol sent ``repeat`` times.

Transmitter: a fixed random orthonormal projection (known to both ends, like a codebook) maps the
L2-normalised feature ``[D]`` to ``2·B/r`` reals, paired into ``B/r`` complex symbols; each is sent
``r`` times, so an image costs ``r · floor(B/r)`` channel uses. Receiver: the ``r`` copies of a
symbol combined, each weighted by the inverse of its noise variance (what the analog link reports),
then projected back to ``D`` dimensions; the run scores that feature against its knowledge base.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from semlink.systems.specs import BudgetSpec, register_system_type


class RepetitionSpec(BudgetSpec):
    """Randomly projected feature, each complex symbol sent ``repeat`` times on the analog link.

    The keys a ``[[systems]] type = "repetition"`` entry may have (pydantic refuses any other).
    """

    type: Literal["repetition"]
    repeat: int = Field(2, ge=1, le=64)  # how many times each complex symbol is sent

    implementation = "semlink_example.repetition:Repetition"

    def check(self, link, channels, run_budgets) -> None:
        for budget in self.budgets(run_budgets):
            if budget < self.repeat:
                raise ValueError(f"system {self.display_name!r}: a budget of {budget} channel uses cannot hold "
                                 f"one symbol sent {self.repeat} times; raise channel_uses or lower repeat")


class Repetition:
    """The system class (semlink.systems.base.SystemBase is the usual base; only its members are required)."""

    trained = False
    channel_free = False
    selection_metric = None  # not a family chosen on validation

    def __init__(self, spec: RepetitionSpec, setting, budget: int) -> None:
        self.spec, self.setting = spec, setting
        self.name, self.budget, self.variant = spec.display_name, int(budget), ""
        self.distinct = self.budget // spec.repeat  # complex symbols carrying the feature

    @property
    def channel_uses(self) -> int:
        return self.distinct * self.spec.repeat

    @classmethod
    def expand(cls, spec, setting, budget):
        return [cls(spec, setting, budget)]

    @classmethod
    def derived_rows(cls, frame, spec):
        return []

    def channel_uses_with_padding(self, links, channel) -> int:
        return links.analog(channel).channel_uses_with_padding(self.channel_uses)

    def prepare(self, ctx, channel) -> None:
        return None  # nothing to train

    def describe(self, links, channel) -> dict:
        return {**links.describe(channel), "repeat": self.spec.repeat}

    def ebno_offset_db(self, links, channel):
        return None

    def _projection(self, dim: int, device):
        import torch

        generator = torch.Generator().manual_seed(1234 + dim)  # fixed: part of the scheme, not of the run
        basis, _ = torch.linalg.qr(torch.randn(dim, 2 * self.distinct, generator=generator))
        return basis.to(device)

    def transmit(self, ctx, channel, snr_db: float):
        import torch

        from semlink.phy import complex_to_real, real_to_complex
        from semlink.systems.base import Received

        link, repeat = ctx.links.analog(channel), self.spec.repeat
        projection = self._projection(ctx.source.feature_dim, ctx.device)
        decoded = []
        with torch.no_grad():
            for batch in ctx.queries.batches():
                symbols = real_to_complex(ctx.queries.features[batch] @ projection)  # [B, k]
                out = link(symbols.repeat(1, repeat), snr_db)  # [B, r·k]: the block sent r times
                # Each copy arrives as an LMMSE estimate x̂ = (1 - e)·(x + n) with error variance e: the
                # maximum-ratio combination of the unbiased copies is Σ x̂/e / Σ (1 - e)/e.
                copies = out.estimate.reshape(len(symbols), repeat, -1)
                error = out.error_var.reshape(len(symbols), repeat, -1).clamp(1e-12, 1 - 1e-6)
                combined = (copies / error).sum(1) / ((1 - error) / error).sum(1)
                decoded.append(complex_to_real(combined) @ projection.T)
        return Received(features=torch.cat(decoded))


register_system_type("repetition", RepetitionSpec)  # for `plugins = [...]` in a config (no installation)
