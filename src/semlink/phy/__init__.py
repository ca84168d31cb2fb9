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
- :class:`DigitalLink` (:mod:`~semlink.phy.digital`): bits -> 5G LDPC -> QAM -> OFDM/flat ->
  channel -> perfect/LS/LMMSE CSI -> LMMSE -> APP demapper -> BP decoder, with per-block syndrome check.
- :class:`AnalogLink` (:mod:`~semlink.phy.analog`): differentiable complex symbols, normalised to unit
  energy -> same PHY -> equalised symbols (unbiased or biased LMMSE) and their effective noise
  variance, in the on-air scale (no side information about the transmit scale).
- Receiver pieces: :mod:`~semlink.phy.estimation` (LS, LMMSE), :mod:`~semlink.phy.covariance`
  (the channel covariance LMMSE assumes), :mod:`~semlink.phy.equalizer`, :mod:`~semlink.phy.receiver`.
- Configs (:mod:`~semlink.phy.config`): :class:`ChannelConfig`, :class:`OfdmConfig`,
  :class:`DigitalLinkConfig`, :class:`AnalogLinkConfig`; accepted names in :data:`MODULATIONS`,
  :data:`CHANNELS`, :data:`CSI_MODES`, :data:`INTERPOLATIONS`, :data:`EQUALIZERS`.
- :func:`payload_bits_for_budget` / :func:`payload_bits_for_link` / :func:`code_for_budget`
  (:mod:`~semlink.phy.budget`): the largest payload whose channel uses fit a budget (the inverse of
  ``DigitalLink.channel_uses``), and the 5G code that fills a budget.
- :func:`real_to_complex` / :func:`complex_to_real` (:mod:`~semlink.phy.convert`): interleaved
  ``[re0, im0, re1, im1, ...]`` packing.

Channel uses are complex symbols on data REs (pilots and cyclic prefix excluded; their cost is in
``ebno_db``), padding to whole code blocks and OFDM slots included.
"""

from semlink.phy.analog import AnalogLink, AnalogOutput, unit_energy_scale
from semlink.phy.budget import code_for_budget, payload_bits_for_budget, payload_bits_for_link
from semlink.phy.config import (
    CHANNELS,
    CSI_MODES,
    EQUALIZERS,
    INTERPOLATIONS,
    MODULATIONS,
    AnalogLinkConfig,
    ChannelConfig,
    DigitalLinkConfig,
    OfdmConfig,
)
from semlink.phy.convert import complex_to_real, real_to_complex
from semlink.phy.digital import BlockResult, DigitalLink, Transmission
from semlink.phy.snr import ebno_db_to_snr_db, snr_db_to_noise_var

__all__ = [
    "AnalogLink",
    "AnalogLinkConfig",
    "AnalogOutput",
    "BlockResult",
    "CHANNELS",
    "CSI_MODES",
    "ChannelConfig",
    "DigitalLink",
    "DigitalLinkConfig",
    "EQUALIZERS",
    "INTERPOLATIONS",
    "MODULATIONS",
    "OfdmConfig",
    "Transmission",
    "code_for_budget",
    "complex_to_real",
    "ebno_db_to_snr_db",
    "payload_bits_for_budget",
    "payload_bits_for_link",
    "real_to_complex",
    "snr_db_to_noise_var",
    "unit_energy_scale",
]
