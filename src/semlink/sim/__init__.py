"""Sweep runner: independent points, derived seeds, resumable journal, tidy results, plots, reports."""

from semlink.sim.runner import Point, RunDirectory, run_points

__all__ = ["Point", "RunDirectory", "run_points"]
