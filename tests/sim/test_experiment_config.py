"""Training settings: a trained system's ``train`` table reaches its settings (keys left out take the
recipe's values, bad values are refused by name); ``[train]`` holds only what every trained scheme shares and
refuses a scheme's key with the line to write instead; the targets config of issue 8 loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from semlink.errors import SemlinkError
from semlink.sim.experiment_config import ExperimentConfig, load_experiment, validate
from semlink.systems.kbsc_recipes import RECIPE_DEFAULTS
from semlink.systems.specs.kbsc import KbscTrainSpec

ROOT = Path(__file__).parents[2]


def test_train_keys_reach_the_settings_and_unset_ones_take_the_recipe_values():
    keys = dict(noise_input="mmse-film", schedule="constant", warmup_epochs=0.5, weight_decay=1e-3, ema_decay=0.9,
                selection="best", smoothing_window=2, validation="split", val_size=100, snr_draw="batch",
                class_weight=0.5)
    settings = validate(KbscTrainSpec, {"epochs": 4, **keys}).settings((0.0, 5.0))
    assert {k: getattr(settings, k) for k in keys} == keys and settings.snr_db == (0.0, 5.0)
    assert validate(KbscTrainSpec, {"snr_db": [3]}).settings((0.0, 5.0)).snr_db == (3.0,)  # its own SNRs win
    for recipe in ("robust", "reference"):
        resolved = validate(KbscTrainSpec, {"recipe": recipe}).settings((0.0,)).resolved()
        assert {k: resolved[k] for k in RECIPE_DEFAULTS[recipe]} == RECIPE_DEFAULTS[recipe]


@pytest.mark.parametrize(
    ("tree", "fragment"),
    [
        ({"schedule": "step"}, "schedule"),
        ({"noise_input": "snr"}, "noise_input"),
        ({"epochs": 3, "warmup_epochs": 3}, "warmup_epochs"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"class_weight": -1}, "class_weight"),
    ],
)
def test_bad_train_values_are_refused_by_name(tree, fragment):
    with pytest.raises(SemlinkError, match=fragment):
        validate(ExperimentConfig, {"systems": [{"type": "kbsc", "channel_uses": 8, "train": tree}]})


def test_a_scheme_key_in_the_run_train_table_says_where_it_goes_now():
    with pytest.raises(SemlinkError, match=r'train: recipe, epochs belong to each trained system now, not to '
                       r'\[train\]: write train = \{ recipe = "robust", epochs = 30 \}'):
        validate(ExperimentConfig, {"systems": [{"type": "kbsc", "channel_uses": 8}],
                                    "train": {"epochs": 30, "recipe": "robust", "snr_db": [0]}})
    with pytest.raises(SemlinkError, match=r"epochs moved into the entry's train table: write train = \{ max_epochs = 8 \}"):
        validate(ExperimentConfig, {"systems": [{"type": "deep-jscc", "channel_uses": 8, "epochs": 8}]})


def test_the_targets_config_is_the_issue_setup():
    cfg = load_experiment(ROOT / "configs" / "kbsc_targets.toml")
    assert isinstance(cfg, ExperimentConfig)
    assert (cfg.data.train_per_class, cfg.data.test_per_class, cfg.data.train_fraction) == (None, None, 0.8)
    assert (cfg.encoder.spec, cfg.encoder.image_size) == ("efficientnet-lite0", 64)
    assert [c.name for c in cfg.channel_list] == ["awgn", "rayleigh"] and cfg.link.ofdm is None
    kbsc = [s for s in cfg.systems if s.type == "kbsc"]
    assert cfg.link.csi == "perfect" and cfg.train.seeds >= 3 and {s.train.recipe for s in kbsc} == {"robust"}
    assert {s.display_name: s.channel_uses for s in kbsc} == {"kbsc-k256": 128, "kbsc-k128": 64}
    assert -7.0 in cfg.eval.snr_db and 10.0 in cfg.eval.snr_db
