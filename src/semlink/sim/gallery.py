"""The example figure of a run: what the receivers rebuilt, side by side, at a few SNRs.

For each channel, ``examples_<channel>.png``: the first sent image on top; below it one row per
system that returns images (a family of MCS shown by its member chosen on validation), at a low, a middle and a
high SNR of the run and without noise. Schemes that send text (Multi-SC and its ablations) show the
crop they sent in the first column and, under each reconstruction, the texts as received and
corrected (block texts separated by "|").
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from semlink.systems.base import SELECTED_VARIANT, variant_role

__all__ = ["write_gallery"]


def _pick_snrs(frame: pd.DataFrame, count: int = 3) -> list[float]:
    finite = sorted({float(s) for s in frame["snr_db"] if math.isfinite(s)})
    if len(finite) > count:
        finite = sorted({finite[round(i * (len(finite) - 1) / (count - 1))] for i in range(count)})
    return finite + ([math.inf] if (frame["snr_db"] == math.inf).any() else [])


def _text(example: dict[str, np.ndarray] | None, query: int) -> str:
    if not example or "example_texts_received" not in example or query >= len(example["example_texts_received"]):
        return ""
    def printable(text: str) -> str:  # bit errors make control characters: show them as dots
        return "".join(ch if ch.isprintable() else "·" for ch in text)

    received = printable(str(example["example_texts_received"][query]))
    corrected = printable(str(example["example_texts_corrected"][query]))
    lines = ["rx: " + received] + ([] if corrected == received else ["fix: " + corrected])
    return "\n".join(textwrap.fill(textwrap.shorten(line, 120, placeholder="…"), 44) for line in lines)


def write_gallery(frame: pd.DataFrame, points: Sequence[Any], run_dir: Any, sent_images: np.ndarray | None,
                  out: Path, title: str, query: int = 0) -> list[Path]:
    """Write ``examples_<channel>.png`` for every channel with image-returning systems; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semlink.sim.plots import _save

    if sent_images is None or frame.empty or "psnr_db" not in frame.columns:
        return []
    keys = {(p.params["system"], p.params["budget"], p.params["variant"], p.params["channel"], p.params["snr_db"]): p.key
            for p in points}
    rows = frame[frame["psnr_db"].notna() & (frame["channel"] != "none")].copy()
    rows["variant"] = rows["variant"].fillna("").astype(str)  # a table read back from CSV has NaN for ""
    roles = rows["variant"].map(variant_role)
    rows = rows[~roles.isin(["seed", "hindsight"])]
    written = []
    for channel, part in rows.groupby("channel", sort=False):
        snrs = _pick_snrs(part)
        role = part["variant"].map(variant_role)
        # A family is shown by its member chosen on validation, not by every member.
        shown, selected = part[role != "selected"], part[role == "selected"]
        families = set(selected["system"])
        lines = [(s, b, v) for s, b, v in shown[["system", "budget", "variant"]].drop_duplicates().itertuples(index=False)
                 if s not in families]
        lines += [(s, b, SELECTED_VARIANT) for s, b in
                  selected[["system", "budget"]].drop_duplicates().itertuples(index=False)]
        if not lines:
            continue
        columns = 1 + len(snrs)
        # Rows of systems that send text carry their received texts under the images: taller rows.
        texts = "bleu_received" in part.columns and bool(part["bleu_received"].notna().any())
        row_height = 3.0 if texts else 2.1
        fig, axes = plt.subplots(len(lines) + 1, columns, figsize=(2.5 * columns, row_height * len(lines) + 2.0),
                                 squeeze=False, gridspec_kw={"height_ratios": [0.9] + [1.3 if texts else 1.0] * len(lines)})
        for ax in axes.ravel():
            ax.axis("off")
        original = np.asarray(sent_images[query])
        axes[0][0].imshow(original, cmap="gray" if original.ndim == 2 else None, vmin=0, vmax=255)
        axes[0][0].set_title("sent image", fontsize=8)
        for r, (system, budget, variant) in enumerate(lines, start=1):
            budget_key = None if budget is None or (isinstance(budget, float) and math.isnan(budget)) else int(budget)
            label = f"{system}" + (f"\n{budget_key} uses" if budget_key else "")
            for c, snr in enumerate(snrs, start=1):
                cell = part[(part["system"] == system) & (part["snr_db"] == snr)
                            & (part["variant"].fillna("") == (variant or ""))]
                if budget_key is not None:
                    cell = cell[cell["budget"] == budget_key]
                if cell.empty:
                    continue
                chosen = cell.iloc[0].get("choice") if variant == SELECTED_VARIANT else variant
                key = keys.get((system, budget_key, chosen if isinstance(chosen, str) else (variant or ""), channel,
                                snr))
                example = run_dir.read_per_query(key) if key else None
                if not example or "example_images" not in example or query >= len(example["example_images"]):
                    continue
                image = example["example_images"][query]
                ax = axes[r][c]
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
                snr_text = "no noise" if math.isinf(snr) else f"{snr:g} dB"
                psnr = example["psnr_db"][query] if "psnr_db" in example else float("nan")
                ax.set_title(f"{snr_text}  {psnr:.1f} dB" + (f"\n[{chosen}]" if variant == SELECTED_VARIANT else ""),
                             fontsize=7)
                text = _text(example, query)
                if text:
                    ax.text(0.0, -0.04, text, transform=ax.transAxes, fontsize=4.8, va="top", family="monospace",
                            parse_math=False)  # received bytes may hold "$": text, never mathtext
                if c == 1 and "example_crops" in example:
                    crop_ax = axes[r][0]
                    crop_ax.imshow(example["example_crops"][query])
                    crop_ax.set_title("crop sent", fontsize=7)
            axes[r][0].text(-0.15, 0.5, label, transform=axes[r][0].transAxes, fontsize=8, ha="right", va="center")
        fig.suptitle(f"{title}: what the receivers rebuilt ({channel}; PSNR of this image)", fontsize=10)
        height = fig.get_figheight()  # margins in inches: a fraction would leave tall figures half empty
        fig.subplots_adjust(top=1 - 0.85 / height, bottom=(0.8 if texts else 0.2) / height,
                            hspace=0.75 if texts else 0.35, wspace=0.08)
        path = out / f"examples_{channel}.png"
        _save(fig, path)
        written.append(path)
    return written
