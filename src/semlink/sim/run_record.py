"""What a run's manifest records about how it ran, beside its config: the fully resolved config, the
command line, the host and its thread counts, wall time per phase, and warnings about its metrics.

``manifest.json`` keeps ``config`` as the run was asked for (what ``resume`` compares) and adds:

- ``resolved_config``: the same tree with every default that stands for a real value filled in (the
  systems' names, the channel list, the OFDM grid, each trained system's training settings, an
  envelope's MCS table, the encoder's input size, the cache folder); a ``null`` left in it means
  "none" (``budgets`` of a run whose systems give their own, ``train_per_class`` = the whole split);
- ``command``, ``host``, ``threads``: how and where it ran;
- ``wall_seconds``: ``{"total": s, "phases": {"data and features": s, "training": s, "evaluation": s,
  "tables and figures": s}}`` for the whole run, not only the points;
- ``warnings``: metrics that cannot tell systems apart (top-k with k at least the number of classes).

>>> phases = Phases(clock=iter([0.0, 0.0, 2.0, 2.5, 8.0, 8.5]).__next__)
>>> with phases("training"):
...     pass
>>> with phases("evaluation"):
...     pass
>>> phases.record()
{'total': 8.5, 'phases': {'training': 2.0, 'evaluation': 5.5}}
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["Phases", "command_line", "host_facts", "resolved_config", "trivial_metric_warnings"]


class Phases:
    """Wall time of a run's phases (``with phases("training"): ...``) and of the whole run since creation."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        tic = self.clock()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + self.clock() - tic

    def record(self) -> dict[str, Any]:
        """``{"total": seconds since creation, "phases": {name: seconds}}``, rounded to 0.1 ms."""
        return {"total": round(self.clock() - self.started, 4),
                "phases": {name: round(s, 4) for name, s in self.seconds.items()}}


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that started this process, shell-quoted (``semlink run cfg.toml --out runs/a``)."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    head = [os.path.basename(argv[0]) or argv[0]]
    if head[0] == "__main__.py":  # python -m package: name the package, as it was typed
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name:
            head = ["python", "-m", spec.name.removesuffix(".__main__")]
    return shlex.join(head + argv[1:])


def host_facts(executor: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """``(host name, thread counts)``: CPUs, torch's intra-op threads, the thread variables set, and the
    executor's threads per worker (``executor``: its ``describe()``)."""
    threads: dict[str, Any] = {"cpu_count": os.cpu_count()}
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = None
    if available is not None:
        threads["cpus_available"] = available
    if "torch" in sys.modules:
        threads["torch_intra_op"] = sys.modules["torch"].get_num_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if os.environ.get(name):
            threads[name] = os.environ[name]
    from semlink.threads import applied_threads

    choice = applied_threads()
    if choice is not None:
        threads["choice"] = choice.as_dict()
    for key in ("threads", "threads_per_worker", "workers"):
        if executor and executor.get(key) is not None:
            threads[f"executor_{key}"] = executor[key]
    return platform.node(), threads


def _json(value: Any) -> Any:
    """Tuples as lists, recursively (what a config tree holds)."""
    if isinstance(value, (tuple, list)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def _fill(tree: dict[str, Any], values: dict[str, Any]) -> None:
    """Replace the ``None`` entries of ``tree`` whose key ``values`` has (not None)."""
    for key, value in tree.items():
        if value is None and values.get(key) is not None:
            tree[key] = _json(values[key])


def _training_settings(system: Any) -> dict[str, Any] | None:
    """The training settings a trained system uses, resolved (its codecs' ``settings``), or None."""
    settings = getattr(getattr(system, "codecs", None), "settings", None)
    if settings is None or callable(settings):
        return None
    if hasattr(settings, "resolved"):
        return settings.resolved()
    return dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else None


def resolved_config(cfg: Any, systems: Sequence[Any] = (), encoder: Any = None,
                    feature_cache: str | None = None, validation_queries: int | None = None) -> dict[str, Any]:
    """``cfg`` (:class:`~semlink.sim.experiment_config.ExperimentConfig`) as a JSON tree with its defaults
    resolved (see the module docstring). ``systems``: the run's built systems (their training settings);
    ``encoder``: the run's image encoder (its input size); ``feature_cache``: the feature cache folder used;
    ``validation_queries``: how many validation queries the run chose on (where it chose)."""
    tree = cfg.model_dump(mode="json")
    tree["channels"] = []
    for channel in cfg.channel_list:  # each as the run meets it: its name in the results and its CSI
        entry = channel.model_dump(mode="json")
        met = cfg.link.on(channel)
        entry.update(label=channel.key, csi=met.csi)
        tree["channels"].append(entry)
    if cfg.link.ofdm is not None:
        _fill(tree["link"]["ofdm"], dataclasses.asdict(cfg.link.ofdm.build()))
    first_system: dict[str, Any] = {}
    for system in systems:
        first_system.setdefault(system.spec.display_name, system)
    for entry, spec in zip(tree["systems"], cfg.systems):
        entry["name"] = spec.display_name
        settings = _training_settings(first_system.get(spec.display_name))
        if settings is not None and isinstance(entry.get("train"), dict):
            _fill(entry["train"], settings)
        if entry.get("mcs_table") is None and entry.get("mcs") == "envelope" and hasattr(spec, "mcs_pairs"):
            entry["mcs_table"] = _json(spec.mcs_pairs(cfg.link))
    if encoder is not None and getattr(encoder, "image_size", None) is not None:
        tree["encoder"]["image_size"] = int(encoder.image_size)
    if feature_cache is not None and tree["encoder"].get("cache_dir") is None:
        tree["encoder"]["cache_dir"] = str(feature_cache)
    if validation_queries is not None and tree["eval"].get("validation_queries") is None:
        tree["eval"]["validation_queries"] = int(validation_queries)
    return tree


def trivial_metric_warnings(top_k: int, num_classes: int | None) -> list[str]:
    """Warnings for metrics that barely depend on what the receiver decoded: top-k accuracy with ``k`` at
    least the number of classes (the k neighbours then almost always include the true class).

    >>> trivial_metric_warnings(5, 2)  # doctest: +ELLIPSIS
    ['top5_accuracy is near trivial: k = 5 is at least the 2 classes of the data, so ... set [eval] top_k below 2']
    >>> trivial_metric_warnings(5, 10)
    []
    """
    if num_classes is None or top_k < num_classes:
        return []
    return [f"top{top_k}_accuracy is near trivial: k = {top_k} is at least the {num_classes} classes of the data, so "
            "the k neighbours almost always include the true class whatever the receiver decoded; compare "
            f"top1_accuracy, or set [eval] top_k below {num_classes}"]
