"""semlink.phy: a link-level SISO physical layer built from NVIDIA Sionna 2 (PyTorch) blocks.

SNR convention (the only one used in semlink)
---------------------------------------------
``snr_db`` is **Es/N0 per complex channel symbol**, i.e. per data resource element on an OFDM
grid. Transmitted data symbols (and pilots) have unit average energy and complex AWGN of variance
``no = 10**(-snr_db/10)`` is added to every resource element; fading channels have unit average
power gain over realisations, so ``snr_db`` is also the average received SNR. ``ebno_db`` (Eb/N0
per information bit) converts as in Sionna's ``ebnodb2no``::

    snr_db = ebno_db + 10 log10(bits_per_symbol * code_rate * grid_efficiency)

with ``grid_efficiency`` = data REs / (energy-carrying REs incl. the cyclic prefix); see
:func:`ebno_db_to_snr_db`, :func:`snr_db_to_noise_var` and :mod:`semlink.phy.snr`.

Blocks
------
- :class:`DigitalLink` (:mod:`~semlink.phy.digital`): bits -> 5G NR transport blocks at an MCS (CRCs,
  LDPC, rate matching) or standalone 5G LDPC blocks -> QAM -> OFDM/flat -> channel ->
  perfect/LS/LMMSE CSI -> LMMSE -> APP demapper -> LDPC decoder, with CRC (or syndrome) checks.
- :class:`AnalogLink` (:mod:`~semlink.phy.analog`): differentiable complex symbols, normalised to unit
  energy -> same PHY -> equalised symbols (unbiased or biased LMMSE) and their effective noise
  variance, in the on-air scale (no side information about the transmit scale).
- Receiver pieces: :mod:`~semlink.phy.estimation` (LS, LMMSE), :mod:`~semlink.phy.covariance`
  (the channel covariance LMMSE assumes), :mod:`~semlink.phy.equalizer`, :mod:`~semlink.phy.receiver`.
- Configs (:mod:`~semlink.phy.config`): :class:`ChannelConfig`, :class:`OfdmConfig`,
  :class:`DigitalLinkConfig`, :class:`AnalogLinkConfig`; accepted names in :data:`MODULATIONS`,
  :data:`CHANNELS`, :data:`CSI_MODES`, :data:`INTERPOLATIONS`, :data:`EQUALIZERS`.
- :class:`CodeLayout` (:mod:`~semlink.phy.budget`): how many channel uses a payload's bits take on a
  digital link (with and without slot padding) and the largest payload a budget carries;
  :func:`code_for_budget` gives the 5G code that fills a budget.
- Transport blocks: :class:`Mcs`, :func:`mcs_from_table`, :func:`mcs_table` (:mod:`~semlink.phy.mcs`,
  the TS 38.214 MCS tables), :func:`tb_layout` / :func:`tb_size` / :func:`channel_uses_for` /
  :func:`max_tb_size` (:mod:`~semlink.phy.transport_size`, TBS, CRCs, segmentation and rate matching
  of an allocation; torch-free), :class:`TransportBlockEncoder` / :class:`TransportBlockDecoder`
  (:mod:`~semlink.phy.transport`, the TB chain); a :class:`DigitalLink` with ``mcs`` set sends them.
- :func:`real_to_complex` / :func:`complex_to_real` (:mod:`~semlink.phy.convert`): interleaved
  ``[re0, im0, re1, im1, ...]`` packing.

Channel uses are complex symbols on data REs (pilots and cyclic prefix excluded; their cost is in
``ebno_db``), padding to whole code blocks and OFDM slots included.
"""

from typing import TYPE_CHECKING

from semlink.lazy import lazy_exports

# Names load lazily (PEP 562): configs and budgets are importable without torch or Sionna, so the
# CLI validates a run's PHY settings in milliseconds; the links import their heavy modules on use.
_EXPORTS = {
    "AnalogLink": "analog", "AnalogOutput": "analog", "unit_energy_scale": "analog",
    "CodeLayout": "budget", "code_for_budget": "budget", "payload_bits_for_budget": "budget",
    "CHANNELS": "config", "CSI_MODES": "config", "DECODERS": "config", "EQUALIZERS": "config",
    "INTERPOLATIONS": "config", "MODULATIONS": "config", "AnalogLinkConfig": "config",
    "ChannelConfig": "config", "DigitalLinkConfig": "config", "OfdmConfig": "config",
    "complex_to_real": "convert", "real_to_complex": "convert",
    "DigitalLink": "digital",
    "BlockResult": "transmission", "PayloadTransmission": "transmission", "Transmission": "transmission",
    "TransportBlockTransmission": "transmission", "TransportPayloadTransmission": "transmission",
    "Mcs": "mcs", "MCS_TABLES": "mcs", "mcs_from_table": "mcs", "mcs_table": "mcs",
    "TbLayout": "transport_size", "channel_uses_for": "transport_size", "max_tb_size": "transport_size",
    "tb_layout": "transport_size", "tb_size": "transport_size",
    "DecodedTransportBlocks": "transport", "TransportBlockDecoder": "transport", "TransportBlockEncoder": "transport",
    "ebno_db_to_snr_db": "snr", "is_noiseless": "snr", "snr_db_to_noise_var": "snr",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from semlink.phy.analog import AnalogLink, AnalogOutput, unit_energy_scale  # noqa: F401
    from semlink.phy.budget import (  # noqa: F401
        CodeLayout,
        code_for_budget,
        payload_bits_for_budget,
    )
    from semlink.phy.config import (  # noqa: F401
        CHANNELS,
        CSI_MODES,
        DECODERS,
        EQUALIZERS,
        INTERPOLATIONS,
        MODULATIONS,
        AnalogLinkConfig,
        ChannelConfig,
        DigitalLinkConfig,
        OfdmConfig,
    )
    from semlink.phy.convert import complex_to_real, real_to_complex  # noqa: F401
    from semlink.phy.digital import DigitalLink  # noqa: F401
    from semlink.phy.mcs import MCS_TABLES, Mcs, mcs_from_table, mcs_table  # noqa: F401
    from semlink.phy.snr import ebno_db_to_snr_db, is_noiseless, snr_db_to_noise_var  # noqa: F401
    from semlink.phy.transmission import (  # noqa: F401
        BlockResult,
        PayloadTransmission,
        Transmission,
        TransportBlockTransmission,
        TransportPayloadTransmission,
    )
    from semlink.phy.transport import (  # noqa: F401
        DecodedTransportBlocks,
        TransportBlockDecoder,
        TransportBlockEncoder,
    )
    from semlink.phy.transport_size import (  # noqa: F401
        TbLayout,
        channel_uses_for,
        max_tb_size,
        tb_layout,
        tb_size,
    )
