"""Where the time of an experiment goes: features, each codec's training (link, channel, backward,
optimiser, validation), evaluation (link, decoding, scoring), I/O.

Runs ``semlink run`` on a config (default ``configs/kbsc_offline.toml``, the main job) in this
process, with cold caches (a fresh ``SEMLINK_CACHE``: features, ONNX export, trained codecs) unless
``--warm``, and times the public functions it passes through with light wrappers (no profiler
overhead). Time is attributed *exclusively*: a wrapped call's own time, minus the wrapped calls
inside it, goes to its label; labels nest under their scope (a codec's training, an evaluated
system), and what no wrapper covers inside a scope shows as ``(rest)``.

    python benchmarks/profile_main_job.py [--config configs/kbsc_offline.toml] [--epochs N]
        [--threads N] [--busy] [--channel-bank M]

``--busy`` starts a CPU-bound process pinned to the last usable CPU for the whole run (the "one core
busy" case of issue 17); ``--threads`` is :func:`semlink.threads.apply_threads`' override (default:
the automatic choice); ``--channel-bank M`` gives the training links a bank of M slots (it patches
the systems layer's link factory until that layer takes the option itself). The last line is one
JSON object with the split.

The wrapped functions are looked up by name; a name the systems layer no longer has is skipped
(and listed), so the script keeps running across restructurings, with a coarser split.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Timers:
    """Exclusive time per label path; scopes prefix the labels of the calls inside them."""

    def __init__(self) -> None:
        self.self_time: dict[tuple[str, ...], float] = defaultdict(float)
        self.calls: dict[tuple[str, ...], int] = defaultdict(int)
        self._stack: list[list[Any]] = []  # [path, start, children's time, is a scope]

    def _scope(self) -> tuple[str, ...]:
        """The label path of the innermost scope being timed (calls that are not scopes prefix nothing)."""
        for path, _, _, scope in reversed(self._stack):
            if scope:
                return path
        return ()

    @contextlib.contextmanager
    def timed(self, label: str, scope: bool) -> Any:
        path = (*self._scope(), label)
        entry = [path, time.perf_counter(), 0.0, scope]
        self._stack.append(entry)
        try:
            yield
        finally:
            self._stack.pop()
            elapsed = time.perf_counter() - entry[1]
            self.self_time[(*path, "(rest)") if scope else path] += elapsed - entry[2]
            self.calls[path] += 1
            if self._stack:
                self._stack[-1][2] += elapsed


def _resolve(dotted: str) -> tuple[Any, str, Any]:
    """``(owner, attribute, value)`` for ``package.module.attr`` or ``package.module.Class.attr``."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ImportError(dotted)


def instrument(timers: Timers, dotted: str, label: str | Callable[..., str], scope: bool = False) -> bool:
    """Wrap ``dotted`` (and every ``semlink`` module's reference to the same function) with a timer."""
    try:
        owner, attr, original = _resolve(dotted)
    except (ImportError, AttributeError):
        return False

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        name = label(*args, **kwargs) if callable(label) else label
        with timers.timed(name, scope):
            return original(*args, **kwargs)

    setattr(owner, attr, wrapper)
    for module in list(sys.modules.values()):  # names bound by "from x import f"
        if getattr(module, "__name__", "").startswith("semlink") and module is not owner:
            for key, value in list(vars(module).items()):
                if value is original:
                    setattr(module, key, wrapper)
    return True


def _train_label(train_features: Any, val_sender: Any, val_receiver: Any, channel: Any, channel_uses: int,
                 *args: Any, **kwargs: Any) -> str:
    kind = "analog link" if hasattr(channel, "link") else "no link (straight-through quantiser)"
    return f"train k={2 * int(channel_uses)} via {kind}"


def _link_label(*args: Any, **kwargs: Any) -> str:
    import torch

    return "link forward+channel (autograd)" if torch.is_grad_enabled() else "link forward+channel (no grad)"


def _wrap_evaluate(timers: Timers) -> bool:
    """Time every evaluated point, scoped by its system."""
    try:
        owner, attr, make_evaluate = _resolve("semlink.sim.experiment.make_evaluate")
    except (ImportError, AttributeError):
        return False

    @functools.wraps(make_evaluate)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        evaluate = make_evaluate(*args, **kwargs)

        def timed_evaluate(point: Any) -> Any:
            with timers.timed(f"evaluate {point.params.get('system')}", scope=True):
                return evaluate(point)

        return timed_evaluate

    setattr(owner, attr, wrapped)
    return True


TARGETS: list[tuple[str, Any, bool]] = [
    ("semlink.data.load_dataset", "data: load dataset", False),
    ("semlink.tx.features.extract_features", "features (incl. ONNX export on a cold cache)", True),
    ("semlink.kb.KnowledgeBase.build", "knowledge base: build", False),
    ("semlink.kb.KnowledgeBase.save", "I/O: knowledge base", False),
    ("semlink.systems.kbsc_training.train_codec", _train_label, True),
    ("semlink.systems.kbsc_training.validate", "validation", False),
    ("semlink.systems.kbsc_training.WeightAverage.update", "optimiser: weight average", False),
    ("torch.optim.Adam.step", "optimiser: step", False),
    ("torch.optim.AdamW.step", "optimiser: step", False),
    ("torch.Tensor.backward", "backward (codec and link)", False),
    ("semlink.phy.AnalogLink.forward", _link_label, False),
    ("semlink.phy.channels.OfdmChannel.generate", "channel sampling", False),
    ("semlink.phy.DigitalLink.transmit", "digital link: transmit", False),
    ("semlink.phy.DigitalLink.transmit_transport_blocks", "digital link: transport blocks", False),
    ("semlink.phy.coding.LdpcCodec.decode", "digital link: LDPC decoding", False),
    ("semlink.metrics.score.score", "scoring", False),
    ("semlink.tx.encoders.memo.MemoisedEncoder.encode", "scoring: re-encoding reconstructions", False),
    ("semlink.systems.kbsc_model.save_codec", "I/O: checkpoints", False),
    ("semlink.sim.plots.write_run_plots", "I/O: plots", False),
    ("semlink.sim.gallery.write_gallery", "I/O: gallery", False),
    ("semlink.sim.runner.RunDirectory.write_tables", "I/O: results tables", False),
    ("semlink.sim.comparisons.paired_comparisons", "comparisons", False),
]


def _bank_links(bank: int) -> bool:
    """Give the training (packed) analog links a channel bank of ``bank`` slots."""
    try:
        from semlink.systems.context import ExperimentContext
    except ImportError:
        return False
    original = ExperimentContext.analog_link

    def analog_link(self: Any, channel: Any, packed: bool = False) -> Any:
        link = original(self, channel, packed)
        if packed and getattr(link._core, "_channel", None) is not None:
            core_channel = link._core._channel
            if getattr(core_channel, "bank_size", None) is None and hasattr(core_channel, "bank"):
                core_channel.bank_size = bank
        return link

    ExperimentContext.analog_link = analog_link
    return True


def main() -> None:
    try:
        import semlink.threads as semlink_threads  # first: OpenMP's wait policy is read when torch loads
    except ImportError:  # a checkout from before semlink.threads: torch's own thread count
        semlink_threads = None

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "kbsc_offline.toml"))
    parser.add_argument("--epochs", type=int, default=None, help="override [train] epochs (quick profiles)")
    parser.add_argument("--threads", default=None, help="thread count (default: semlink.threads' choice)")
    parser.add_argument("--busy", action="store_true", help="keep one CPU busy with another process")
    parser.add_argument("--channel-bank", type=int, default=None, help="bank slots for the training links")
    parser.add_argument("--warm", action="store_true", help="keep $SEMLINK_CACHE (default: a fresh cache)")
    parser.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    parser.add_argument("--nice", type=int, default=0,
                        help="run in a session of its own whose scheduling group has niceness -N (root), so other "
                             "users' processes on a shared machine barely compete (see threads_speed.py)")
    parser.add_argument("--in-session", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.nice and not args.in_session:
        sys.exit(subprocess.call([sys.executable, __file__, *sys.argv[1:], "--in-session"], start_new_session=True))
    if args.nice:
        try:
            Path("/proc/self/autogroup").write_text(str(-args.nice))
        except OSError:
            os.nice(-args.nice)

    burner = None
    if args.busy:
        cpu = sorted(os.sched_getaffinity(0))[-1]
        burner = subprocess.Popen([sys.executable, "-c",
                                   f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
        time.sleep(0.5)
    try:
        _run(args, semlink_threads)
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()


def _run(args: argparse.Namespace, semlink_threads: Any) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="semlink-profile-"))
    if not args.warm:
        os.environ["SEMLINK_CACHE"] = str(tmp / "cache")
    if semlink_threads is not None:
        choice = semlink_threads.apply_threads(args.threads)
        print(f"threads: {choice.threads} ({choice.reason}); cpus {choice.cpus}; "
              f"busy cores seen {choice.sources.get('busy_cores')}; wait policy {choice.applied['omp_wait_policy']}",
              flush=True)
    else:
        import torch

        if args.threads is not None:
            torch.set_num_threads(int(args.threads))
        choice = argparse.Namespace(threads=torch.get_num_threads(), reason="torch's default")
        print(f"threads: {choice.threads} (torch's default; no semlink.threads in this checkout)", flush=True)

    from semlink.config import read_toml, validate
    from semlink.sim.experiment import run_experiment
    from semlink.sim.experiment_config import ExperimentConfig
    from semlink.sim.resources import default_cache_dir

    data = read_toml(args.config)
    if args.epochs is not None:
        data.setdefault("train", {})["epochs"] = args.epochs
    cfg = validate(ExperimentConfig, data)
    timers = Timers()
    skipped = [dotted for dotted, label, scope in TARGETS if not instrument(timers, dotted, label, scope)]
    if not _wrap_evaluate(timers):
        skipped.append("semlink.sim.experiment.make_evaluate")
    if args.channel_bank and not _bank_links(args.channel_bank):
        skipped.append("channel bank (semlink.systems.context.ExperimentContext.analog_link)")
    out = Path(args.out) if args.out else tmp / "run"
    tic = time.perf_counter()
    with timers.timed("run", scope=True):
        run_experiment(cfg, out, progress=False, cache_dir=default_cache_dir() / "checkpoints",
                       log=lambda message: print(f"  [{time.perf_counter() - tic:6.1f} s] {message}", flush=True))
    total = time.perf_counter() - tic
    _report(timers, total, skipped, choice, args)


def _report(timers: Timers, total: float, skipped: list[str], choice: Any, args: argparse.Namespace) -> None:
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for path, seconds in timers.self_time.items():
        inner = path[1:] if path and path[0] == "run" else path
        if not inner or inner == ("(rest)",):
            groups["other (run outside any wrapper)"]["(rest)"] = seconds
            continue
        if len(inner) == 1:
            groups["setup, I/O and other"][inner[0]] = groups["setup, I/O and other"].get(inner[0], 0.0) + seconds
            continue
        head, leaf = inner[0], " / ".join(inner[1:])
        groups[head][leaf] = groups[head].get(leaf, 0.0) + seconds
    print(f"\ntotal {total:.1f} s ({choice.threads} threads; busy core: {args.busy}; "
          f"epochs: {args.epochs or 'config'}; channel bank: {args.channel_bank})")
    summary = {}
    for head, parts in sorted(groups.items(), key=lambda kv: -sum(kv[1].values())):
        subtotal = sum(parts.values())
        summary[head] = {"seconds": round(subtotal, 2), "parts": {k: round(v, 2) for k, v in parts.items()}}
        print(f"{subtotal:8.1f} s {100 * subtotal / total:5.1f} %  {head}")
        for leaf, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
            if seconds >= 0.05:
                print(f"           {seconds:8.1f} s  {leaf}")
    if skipped:
        print("not found (not timed): " + ", ".join(skipped))
    print(json.dumps({"benchmark": "profile_main_job", "config": Path(args.config).name, "total_s": round(total, 2),
                      "threads": choice.threads, "busy": args.busy, "epochs": args.epochs,
                      "channel_bank": args.channel_bank, "split": summary}))


if __name__ == "__main__":
    main()
