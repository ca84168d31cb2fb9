"""The example figure: what receivers rebuilt, with the texts they received (bit errors included)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from semlink.sim.gallery import write_gallery


class _Examples:
    """Per-point example arrays as a run folder holds them (``per_query/<key>.npz``)."""

    def __init__(self, examples):
        self.examples = examples

    def read_per_query(self, key):
        return self.examples.get(key)


def test_received_texts_with_dollar_signs_and_control_bytes_are_drawn_as_text(tmp_path):
    # Bit errors turn captions into arbitrary bytes; "$...$" must not be parsed as mathtext.
    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    rows, points, examples = [], [], {}
    for snr in (0.0, 10.0, float("inf")):
        key = f"multi-sc@{snr}"
        rows.append({"system": "multi-sc", "budget": 256, "variant": "", "channel": "awgn", "snr_db": snr,
                     "psnr_db": 12.0})
        points.append(SimpleNamespace(key=key, params={"system": "multi-sc", "budget": 256, "variant": "",
                                                       "channel": "awgn", "snr_db": snr}))
        examples[key] = {"example_images": images, "psnr_db": np.array([12.0, 13.0]),
                         "example_texts_received": np.array(["a ca\"28u$$\x07l r", "x"]),
                         "example_texts_corrected": np.array(["a cat", "x"])}
    written = write_gallery(pd.DataFrame(rows), points, _Examples(examples), images, tmp_path, "dollars")
    assert [p.name for p in written] == ["examples_awgn.png"] and written[0].stat().st_size > 0
