"""KBSC training: the schedule, checkpoint choice, the collapse flag of the kept checkpoint, seeds,
and the noise-aware decoder against the blind one."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from semlink.errors import SemlinkError
from semlink.metrics import nearest_labels, paired_difference_ci, top_k_hits
from semlink.systems.kbsc_model import ReceivedLatent, analog_channel
from semlink.systems.kbsc_recipes import RECIPE_DEFAULTS, TrainSettings
from semlink.systems.kbsc_training import selection_scores, train_codec
from semlink.systems.schedule import learning_rate_at


def _clusters(num: int, dim: int = 24, classes: int = 6, seed: int = 0):
    """L2-normalised features around ``classes`` random centres, labels ``[num]``."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(classes, dim, generator=g), dim=-1)
    labels = torch.arange(num) % classes
    return F.normalize(centres[labels] + 0.2 * torch.randn(num, dim, generator=g), dim=-1), labels


def _data(seed: int = 0):
    """Training features, (validation sender features, labels), (receiver features, labels), training labels."""
    x, y = _clusters(600, seed=seed)
    return x[:384], (x[384:492], y[384:492]), (x[492:], y[492:]), y[:384]


def _flat_link(channel: str = "awgn"):
    from semlink.phy import AnalogLink, AnalogLinkConfig, ChannelConfig

    return AnalogLink(AnalogLinkConfig(channel=ChannelConfig(name=channel), ofdm=None))


def test_warmup_then_cosine_decay():
    total, warmup = 100, 10
    rates = [learning_rate_at(s, total, warmup, 1e-3, "cosine") for s in range(total)]
    assert rates[0] == pytest.approx(1e-4) and rates[warmup - 1] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(rates[:warmup - 1], rates[1:warmup]))  # rising warm-up
    assert all(a >= b for a, b in zip(rates[warmup:], rates[warmup + 1:]))  # then never rising
    assert rates[(total + warmup) // 2] == pytest.approx(5e-4, rel=1e-6)  # half-way down at mid-decay
    assert rates[-1] < 1e-3 * 1e-3  # ends near zero
    assert [learning_rate_at(s, total, 0, 1e-4, "constant") for s in (0, 50, 99)] == [1e-4] * 3
    with pytest.raises(SemlinkError, match="schedule"):
        learning_rate_at(0, 10, 0, 1e-3, "step")


def test_smoothed_selection_prefers_a_sustained_plateau_to_one_lucky_epoch():
    accuracy = [0.30, 0.62, 0.41, 0.50, 0.55, 0.56, 0.57]
    assert max(range(7), key=lambda i: selection_scores(accuracy, "best", 3)[i]) == 1
    smoothed = selection_scores(accuracy, "smoothed", 3)
    assert max(range(7), key=lambda i: smoothed[i]) == 6
    assert smoothed[0] == accuracy[0] and smoothed[2] == pytest.approx(sum(accuracy[:3]) / 3)


def test_recipe_defaults_and_bad_settings():
    ref, robust = TrainSettings(recipe="reference").resolved(), TrainSettings().resolved()
    # The published recipe is unchanged: Adam 1e-4 at a constant rate, blind decoder, best epoch kept.
    assert (ref["lr"], ref["schedule"], ref["weight_decay"], ref["ema_decay"], ref["noise_input"],
            ref["selection"], ref["validation"]) == (1e-4, "constant", 0.0, 0.0, "none", "best", "split")
    assert robust["schedule"] == "cosine" and robust["noise_input"] != "none"
    assert TrainSettings(recipe="reference", lr=3e-4).learning_rate == 3e-4
    assert set(RECIPE_DEFAULTS["robust"]) == set(RECIPE_DEFAULTS["reference"])
    # Both recipes train the published, label-free objective unless a class weight is asked for (kbsc+labels).
    assert (robust["class_weight"], ref["class_weight"]) == (0.0, 0.0)
    assert TrainSettings(class_weight=1.0).resolved()["class_weight"] == 1.0
    with pytest.raises(SemlinkError, match="class_weight = 0.5 belongs to the robust recipe"):
        TrainSettings(recipe="reference", class_weight=0.5)
    for bad, match in (({"schedule": "step"}, "schedule"), ({"selection": "last"}, "selection"),
                       ({"noise_input": "snr"}, "noise_input"), ({"warmup_epochs": 5, "epochs": 5}, "warmup"),
                       ({"ema_decay": 1.0}, "ema_decay"), ({"val_size": 0}, "val_size"),
                       ({"val_snrs": 0}, "val_snrs")):
        with pytest.raises(SemlinkError, match=match):
            TrainSettings(**bad)


def test_history_records_the_schedule_seed_and_every_snr():
    train, val_sender, val_receiver, labels = _data()
    settings = TrainSettings(epochs=4, patience=4, batch_size=64, hidden_dim=32, snr_db=(0.0, 10.0),
                             warmup_epochs=1.0)
    codec, history = train_codec(train, val_sender, val_receiver, analog_channel(_flat_link()), 8, settings, seed=3,
                                 train_labels=labels)
    assert history.seed == 3 and len(history.learning_rate) == 4
    # Last step of the warm-up epoch is the peak; the decay then ends near zero.
    assert history.learning_rate[0] == pytest.approx(1e-3)
    assert history.learning_rate[-1] < 0.1 * history.learning_rate[1] < history.learning_rate[0]
    assert all(len(per_snr) == 2 for per_snr in history.val_accuracy_per_snr)
    assert history.val_accuracy == pytest.approx([sum(p) / 2 for p in history.val_accuracy_per_snr])
    assert codec.noise_input == RECIPE_DEFAULTS["robust"]["noise_input"] and not codec.training


def test_epochs_validate_a_subset_and_the_kept_checkpoint_gets_the_full_check():
    """Each epoch validates 3 of the 5 training SNRs (both ends and the middle); the kept checkpoint
    is then scored on every query at every SNR, which is the figure recorded as full_val_accuracy."""
    from semlink.systems.kbsc_training import validate

    train, val_sender, val_receiver, labels = _data()
    settings = TrainSettings(epochs=2, patience=2, batch_size=64, hidden_dim=32,
                             snr_db=(10.0, -5.0, 0.0, 5.0, -10.0), val_size=40, val_snrs=3)
    codec, history = train_codec(train, val_sender, val_receiver, analog_channel(_flat_link()), 8, settings, seed=4,
                                 train_labels=labels)
    assert all(len(per_snr) == 3 for per_snr in history.val_accuracy_per_snr)
    full = validate(codec, analog_channel(_flat_link()), *val_sender, *val_receiver, settings.snr_db)
    assert history.full_val_accuracy is not None and 0.0 <= history.full_val_accuracy <= 1.0
    # The full check draws its own noise: 540 query-SNR pairs each, so the two differ by about 0.03 (1 sigma);
    # 0.1 is a 3-sigma bound.
    assert abs(history.full_val_accuracy - full[0]) <= 0.1
    assert RECIPE_DEFAULTS["robust"]["val_snrs"] == 3 and RECIPE_DEFAULTS["reference"]["val_snrs"] is None


def test_seeds_give_independent_codecs_and_the_same_seed_the_same_codec():
    train, val_sender, val_receiver, labels = _data()
    settings = TrainSettings(epochs=1, patience=1, batch_size=64, hidden_dim=32, snr_db=(0.0,))

    def weights(seed):
        codec, history = train_codec(train, val_sender, val_receiver, analog_channel(_flat_link()), 8, settings,
                                     seed=seed, train_labels=labels)
        assert history.seed == seed
        return torch.cat([p.detach().flatten() for p in codec.parameters()])

    a, b, a_again = weights(0), weights(1), weights(0)
    assert torch.equal(a, a_again)
    assert not torch.allclose(a, b)


def test_the_default_trains_without_labels_and_a_class_weight_asks_for_them():
    train, val_sender, val_receiver, _ = _data()
    aware = TrainSettings(epochs=1, patience=1, batch_size=64, hidden_dim=32, snr_db=(0.0,), class_weight=1.0)
    with pytest.raises(SemlinkError, match=r"class_weight = 1.0 \(the robust recipe's unless set\) needs train_labels"):
        train_codec(train, val_sender, val_receiver, analog_channel(_flat_link()), 8, aware, seed=0)
    default = TrainSettings(epochs=1, patience=1, batch_size=64, hidden_dim=32, snr_db=(0.0,))
    _, history = train_codec(train, val_sender, val_receiver, analog_channel(_flat_link()), 8, default, seed=0)
    assert len(history.val_accuracy) == 1


def test_collapse_flag_describes_the_kept_checkpoint():
    """A channel that works for the first epoch and then erases every message: the decoder's output
    turns constant (spread 0) and validation falls to chance, so the kept checkpoint is the first
    epoch, which has not collapsed. The last epoch has; the flag must describe the kept one."""
    train, val_sender, val_receiver, _ = _data()
    link = analog_channel(_flat_link())
    settings = TrainSettings(recipe="reference", epochs=4, patience=4, batch_size=64, hidden_dim=32,
                             snr_db=(10.0,), lr=3e-3)
    steps_per_epoch = len(train) // settings.batch_size
    calls = {"n": 0}

    def fails_after_one_epoch(latent, snr_db):
        calls["n"] += 1
        received = link(latent, snr_db)
        if calls["n"] <= steps_per_epoch + 1:  # epoch 0: its training steps and its validation
            return received
        return ReceivedLatent(torch.zeros_like(received.latent), received.error_var)

    codec, history = train_codec(train, val_sender, val_receiver, fails_after_one_epoch, 8, settings, seed=0)
    assert history.output_spread[-1] < 0.05  # the last epoch collapsed...
    assert history.best_epoch == 0 and history.output_spread[0] > 0.3
    assert not history.collapsed  # ...but the kept checkpoint did not
    # 6 classes: chance is 1/6, i.e. 18 of the 108 validation queries (sd 3.9); 0.35 is 38, 5 sd above.
    assert history.best_val_accuracy > 0.35


def _fashion_split(fashion_features):
    """(training features, labels), validation sender, validation receiver, (queries, labels),
    (knowledge base, labels) of the Fashion-MNIST feature fixture: 1200 / 150 / rest / 500 / rest."""
    x, y = fashion_features["train"], fashion_features["train_labels"]
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, val = order[:1200], order[1200:]
    test_x, test_y = fashion_features["test"], fashion_features["test_labels"]
    return ((x[train], y[train]), (x[val[:150]], y[val[:150]]), (x[val[150:]], y[val[150:]]),
            (test_x[:500], test_y[:500]), (test_x[500:], test_y[500:]))


def test_noise_aware_decoder_is_no_worse_than_a_blind_one_on_rayleigh(fashion_features):
    """Rayleigh block fading: each example sees its own noise level. Codecs trained alike (same seeds,
    data, SNRs and schedule) differ only in whether the decoder also reads the front end's per-symbol
    error variance. Three training seeds of each; every codec decodes the same 500 queries over the
    same 8 channel draws per query (common random numbers) at -4 and 4 dB. The front end's LMMSE
    estimate already shrinks faded symbols towards zero, so the blind decoder is nearly as good
    (measured: +0.013 [+0.003, +0.024] at -4 dB, +0.005 [-0.005, +0.015] at 4 dB); the reading of the
    error variance must not hurt.

    Pass criterion: each query's hit rate is averaged over the 3 seeds x 8 draws; the lower end of the
    95 % paired t interval over the 500 (independent) queries of accuracy(aware) - accuracy(blind) is
    above -0.03 at every SNR, i.e. "no worse by more than 3 points" at 97.5 % one-sided confidence per
    SNR (the interval is about +-0.01 wide). One training seed is not enough: a single pair of codecs
    measured from -0.016 to +0.026 at -4 dB over four seeds, and 1000 trials of one pair resolve only
    +-2.8 points, so a one-seed version of this test failed for 3 of 8 (seed, SNR) cases although the
    decoders are on par. The run is seeded, so the outcome is fixed.
    """
    import numpy as np

    from semlink.metrics import paired_mean_difference_ci
    from semlink.seeding import seed_everything

    torch.set_num_threads(1)
    (train, train_labels), val_sender, val_receiver, (queries, query_labels), (kb, kb_labels) = \
        _fashion_split(fashion_features)
    link = analog_channel(_flat_link("rayleigh"))
    # Feature loss only (class_weight = 0): the test isolates what the decoder reads.
    base = dict(epochs=6, patience=6, batch_size=64, snr_db=(-4.0, 4.0), val_size=150, class_weight=0.0)
    seeds, draws = (5, 6, 7), 8
    hit_rate = {}
    for mode in ("none", "mmse"):
        per_snr = {-4.0: [], 4.0: []}
        for seed in seeds:
            codec, history = train_codec(train, val_sender, val_receiver, link, 32,
                                         TrainSettings(noise_input=mode, **base), seed=seed, train_labels=train_labels)
            assert not history.collapsed
            for snr in per_snr:
                for draw in range(draws):
                    seed_everything(100 + draw + int(snr))  # the same channel draws for every codec
                    with torch.no_grad():
                        decoded = codec.decode(link(codec.encode(queries), snr))
                    per_snr[snr].append(top_k_hits(nearest_labels(decoded, kb, kb_labels, 1), query_labels, 1).numpy())
        for snr, hits in per_snr.items():
            hit_rate[mode, snr] = np.mean(np.stack(hits).astype(float), axis=0)  # per query
    for snr in (-4.0, 4.0):
        diff, low, high = paired_mean_difference_ci(hit_rate["mmse", snr], hit_rate["none", snr])
        assert low > -0.03, (snr, diff, low, high)
        assert high - low < 0.04, (snr, low, high)  # the interval resolves the 3-point margin
    assert not math.isnan(diff)


def test_class_aware_loss_retrieves_the_class_better_than_the_label_free_one(fashion_features):
    """Two codecs trained alike (same seed, data, SNRs, schedule) on AWGN at 32 channel uses, one with
    the class-aware term (``kbsc+labels``) and one label-free (``class_weight = 0``), decode the
    same 1000 queries over the same channel draws (common random numbers) at -7 dB.

    Pass criterion: the lower end of the 95 % paired confidence interval (Newcombe) of
    accuracy(class-aware) - accuracy(label-free) is above 0, i.e. the class-aware codec is better at
    97.5 % one-sided confidence; the run is seeded, so the outcome is fixed. Both codecs still rebuild
    the feature (mean cosine to the sent one well above that of unrelated items): the class-aware term
    adds to the feature losses, it does not replace them.
    """
    from semlink.seeding import seed_everything

    torch.set_num_threads(1)
    (train, train_labels), val_sender, val_receiver, (queries, query_labels), (kb, kb_labels) = \
        _fashion_split(fashion_features)
    link = analog_channel(_flat_link())
    base = dict(epochs=6, patience=6, batch_size=64, snr_db=(-7.0, 0.0), val_size=150)
    hits, cosine = {}, {}
    for weight in (0.0, 1.0):
        codec, _ = train_codec(train, val_sender, val_receiver, link, 32, TrainSettings(class_weight=weight, **base),
                               seed=5, train_labels=train_labels)
        per_draw, cosines = [], []
        for repeat in range(2):  # two independent channel draws per query: 1000 paired trials
            seed_everything(200 + repeat)
            with torch.no_grad():
                decoded = codec.decode(link(codec.encode(queries), -7.0))
            per_draw.append(top_k_hits(nearest_labels(decoded, kb, kb_labels, 1), query_labels, 1))
            cosines.append(F.cosine_similarity(decoded, queries, dim=-1).mean())
        hits[weight], cosine[weight] = torch.cat(per_draw).numpy(), float(torch.stack(cosines).mean())
    diff, low, high = paired_difference_ci(hits[1.0], hits[0.0])
    assert low > 0, (diff, low, high)
    unrelated = float(F.cosine_similarity(queries, queries.roll(1, 0), dim=-1).mean())
    assert min(cosine.values()) > unrelated + 0.1, (cosine, unrelated)
