"""The report's training curves: loss and validation score per epoch of every codec a run trained.

They come from ``checkpoints/<codec>/training_curve.csv`` (:mod:`semlink.sim.training_curves`); the
epoch whose weights the checkpoint keeps is drawn as a larger marker. One panel per quantity:
training loss (log axis) and each validation score present (``val_accuracy``: top-1 for KBSC,
``val_psnr``: PSNR for deep JSCC).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from semlink.sim.report_figures import Lines, ReportFigure, Styles, compact_list, finish_layout, panel_grid
from semlink.sim.training_curves import read_training_curves

__all__ = ["training_figures"]

PANELS = (("epoch_loss", "training loss", True), ("val_accuracy", "validation top-1", False),
          ("val_psnr", "validation PSNR [dB]", False))


def training_figures(runs: Sequence[Any], styles: Styles) -> list[ReportFigure]:
    """One figure of every trained codec's curves across ``runs`` (none when no run trained one)."""
    curves = [(run.label, name, frame) for run in runs for name, frame in read_training_curves(run.path).items()]
    if not curves:
        return []
    panels = [p for p in PANELS if any(p[0] in frame.columns for _, _, frame in curves)]
    fig = panel_grid(1, len(panels), [label for _, label, _ in panels], shared_y=False)
    multi_run = len({label for label, _, _ in curves}) > 1
    lines = Lines(fig, styles, multi_run)
    for run, name, frame in curves:
        kept = frame["kept"].astype(bool) if "kept" in frame.columns else pd.Series(False, index=frame.index)
        for col, (column, label, _) in enumerate(panels, start=1):
            if column not in frame.columns:
                continue
            text = [f"<b>{name}</b><br>epoch {int(e)}: {label} {v:.4g}" + (" (kept)" if k else "")
                    for e, v, k in zip(frame["epoch"], frame[column], kept)]
            lines.add(run, name, name, frame["epoch"].tolist(), frame[column].tolist(), text, 1, col)
            if kept.any():
                fig.add_scatter(x=compact_list(frame.loc[kept, "epoch"].tolist()),
                                y=compact_list(frame.loc[kept, column].tolist()), mode="markers",
                                marker={"size": 13, "symbol": "star", "color": styles.color(name)},
                                legendgroup=lines.name(run, name), showlegend=False, hoverinfo="skip", row=1, col=col)
    for col, (_, _, log) in enumerate(panels, start=1):
        fig.update_xaxes(title_text="epoch", row=1, col=col)
        if log:
            fig.update_yaxes(type="log", dtick="D2", row=1, col=col)  # 1, 2, 5 per decade: labels never crowd
    finish_layout(fig, "Training curves (★: the epoch each checkpoint keeps)", 1,
                  "run · codec" if multi_run else "codec")
    return [ReportFigure(fig.layout.title.text, fig, "fig-training", primary=False)]
