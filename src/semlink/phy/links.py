"""The links of a run, built once: what every system transmits through (:class:`LinkFactory`).

A run states its PHY once (:class:`~semlink.phy.spec.LinkSpec`: grid, CSI, decoder, default code)
and evaluates systems on several channels (:class:`~semlink.phy.spec.ChannelSpec`). Systems ask the
factory for the link they need on a channel — the analog link (one image per slot for evaluation,
packed for training) or a digital link of a given modulation and code — and get the same object
every time, so its construction (pilots, LMMSE filters, LDPC graphs) happens once per run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from semlink.phy.spec import ChannelSpec, LinkSpec

if TYPE_CHECKING:  # pragma: no cover
    from semlink.phy.analog import AnalogLink
    from semlink.phy.digital import DigitalLink

__all__ = ["LinkFactory"]

#: Channel realisations a training link draws its slots from (:class:`semlink.phy.channels.OfdmChannel`
#: ``bank_size``): made once per link and seed, reused across epochs; each draw adds fresh noise.
TRAINING_BANK = 4096

Code = tuple[int, int] | str
"""A digital link's code: ``(k, n)`` 5G LDPC code blocks, or ``"uncoded"``."""


class LinkFactory:
    """Builds and keeps the links of one run (see the module docstring).

    :param spec: the run's ``[link]``.
    :param device: where the links compute (None: Sionna's default device).
    """

    def __init__(self, spec: LinkSpec, device: Any = None) -> None:
        self.spec = spec
        self.device = None if device is None else str(device)
        self._links: dict[tuple, Any] = {}

    def analog(self, channel: ChannelSpec, packed: bool = False) -> AnalogLink:
        """The :class:`~semlink.phy.AnalogLink` on ``channel``.

        Evaluation sends every image in its own OFDM slot (``packed=False``), so images see
        independent channel realisations and the binomial confidence intervals hold. Training
        packs several images per slot (``packed=True``): the same channel statistics, fewer REs.
        """
        from semlink.phy.analog import AnalogLink

        key = ("analog", channel, packed)
        if key not in self._links:
            # Training draws its channel realisations from a bank (TRAINING_BANK of them, reused across
            # epochs); evaluation draws fresh ones, one per image, so the binomial intervals hold.
            self._links[key] = AnalogLink(self.spec.on(channel).analog(channel=channel.build()), device=self.device,
                                          pack_examples=packed, channel_bank=TRAINING_BANK if packed else None)
        return self._links[key]

    def digital(self, channel: ChannelSpec, modulation: str, code: Code) -> DigitalLink:
        """The :class:`~semlink.phy.DigitalLink` on ``channel`` at ``modulation`` with ``code``."""
        from semlink.phy.digital import DigitalLink

        code = "uncoded" if code == "uncoded" else (int(code[0]), int(code[1]))
        key = ("digital", channel, modulation, code)
        if key not in self._links:
            k, n = (None, None) if code == "uncoded" else code
            self._links[key] = DigitalLink(
                self.spec.on(channel).digital(channel=channel.build(), modulation=modulation, code_k=k, code_n=n),
                device=self.device,
            )
        return self._links[key]

    def transport(self, channel: ChannelSpec, mcs) -> DigitalLink:
        """The transport-block :class:`~semlink.phy.DigitalLink` on ``channel`` at ``mcs``
        (:class:`~semlink.phy.mcs.Mcs`): 5G NR's TB chain for every digital payload of the systems."""
        from semlink.phy.digital import DigitalLink

        key = ("transport", channel, mcs)
        if key not in self._links:
            self._links[key] = DigitalLink(self.spec.on(channel).digital(channel=channel.build(), mcs=mcs),
                                           device=self.device)
        return self._links[key]

    def describe(self, channel: ChannelSpec, **digital: Any) -> dict[str, Any]:
        """Results-row columns naming the link on ``channel`` (:meth:`LinkSpec.describe`)."""
        return self.spec.describe(channel, **digital)
