"""``semlink kb build`` / ``semlink kb query``: the knowledge base from the command line.

Feature files are safetensors with tensors ``features [N, D]`` (any float dtype; converted to
float32), ``labels [N]`` (integer; required by ``build``, optional for ``query``) and optionally
``ids [N]`` (integer). A string metadata entry ``encoder`` names the encoder that made them.

Bad input raises :class:`~semlink.errors.SemlinkError`; the ``semlink`` entry point prints it on
one line and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError

if TYPE_CHECKING:  # the CLI stays import-light: torch and FAISS load inside the commands
    import torch

app = typer.Typer(help="Build and query the receiver's FAISS knowledge base.", no_args_is_help=True)


def read_feature_file(path: Path, *, need_labels: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read ``features`` (as float32), ``labels`` and ``ids`` from a safetensors file, and its metadata."""
    import torch
    from safetensors import SafetensorError, safe_open

    from semlink.bridge import describe

    if not path.is_file():
        raise MissingResourceError(f"feature file {path} not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            keys = set(fh.keys())
            meta = dict(fh.metadata() or {})
            tensors = {name: fh.get_tensor(name) for name in ("features", "labels", "ids") if name in keys}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CorruptFileError(f"{path} is not a readable safetensors file: {err}") from err
    if "features" not in tensors:
        raise SemlinkError(
            f"{path} has no tensor 'features' [N, D]; it holds: {', '.join(sorted(keys)) or 'nothing'}"
        )
    if need_labels and "labels" not in tensors:
        raise SemlinkError(f"{path} has no tensor 'labels' [N], needed to build a knowledge base")
    feats = tensors["features"]
    if feats.dim() != 2 or not feats.is_floating_point():
        raise SemlinkError(f"{path}: 'features' must be a 2-D float tensor [N, D]; got {describe(feats)}")
    # the file's data is ours (freshly read), so converting it is not a hidden copy of the caller's memory
    tensors["features"] = feats.to(torch.float32).contiguous()
    return tensors, meta


@app.command()
def build(
    features: Path = typer.Option(
        ..., "--features", help="safetensors file: 'features' [N,D], 'labels' [N], optional 'ids' [N]"
    ),
    out: Path = typer.Option(..., "--out", help="directory to write the knowledge base into"),
    factory: str = typer.Option(
        "Flat", "--factory", help="FAISS index-factory string: Flat, HNSW32, IVF1024,Flat, IVF256,PQ32, ..."
    ),
    encoder: str | None = typer.Option(
        None, "--encoder", help="encoder name (default: the file's 'encoder' metadata, else 'unknown')"
    ),
    metric: str = typer.Option("l2", "--metric", help="l2 or ip"),
    nprobe: int | None = typer.Option(None, "--nprobe", help="IVF lists visited per query"),
    ef_search: int | None = typer.Option(None, "--ef-search", help="HNSW efSearch"),
    seed: int = typer.Option(0, "--seed", help="seed of the IVF/PQ k-means"),
) -> None:
    """Index the features of a safetensors file and save the knowledge base to --out."""
    from semlink.kb.index import KnowledgeBase

    tensors, meta = read_feature_file(features, need_labels=True)
    kb = KnowledgeBase.build(
        tensors["features"],
        tensors["labels"],
        ids=tensors.get("ids"),
        factory=factory,
        metric=metric,
        encoder=encoder or meta.get("encoder") or "unknown",
        seed=seed,
        nprobe=nprobe,
        ef_search=ef_search,
    )
    kb.save(out)
    typer.echo(f"wrote {out}: {kb!r}")


@app.command()
def query(
    kb: Path = typer.Option(..., "--kb", help="knowledge-base directory written by 'semlink kb build'"),
    features: Path = typer.Option(
        ..., "--features", help="safetensors file: query 'features' [Q,D], optional 'labels' [Q]"
    ),
    k: int = typer.Option(5, "--k", help="neighbours per query"),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="encoder the queries came from (default: the file's 'encoder' metadata); must match the knowledge base's",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="also write the results (distances, indices, labels, ids) to this safetensors file",
    ),
) -> None:
    """Search the knowledge base and print top-1 / top-k accuracy (when the file has labels)."""
    import torch

    from semlink.io import atomic_path
    from semlink.kb.index import KnowledgeBase
    from semlink.metrics import binomial_ci, top_k_hits

    tensors, meta = read_feature_file(features, need_labels=False)
    expect = encoder or meta.get("encoder")
    base = KnowledgeBase.load(kb, expect_encoder=expect, expect_dim=int(tensors["features"].shape[1]))
    result = base.search(tensors["features"], k=k)
    q = int(tensors["features"].shape[0])
    typer.echo(
        f"knowledge base {kb}: {base.ntotal} items, dim {base.dim}, factory {base.factory!r}, encoder {base.encoder!r}"
    )
    typer.echo(f"queries: {q}, k: {k}")
    labels = tensors.get("labels")
    if labels is None:
        typer.echo(f"{features} has no 'labels': accuracy not computed")
    elif q == 0:
        typer.echo("no queries: accuracy not computed")
    else:
        for kk in sorted({1, k}):
            hits = int(top_k_hits(result.labels, labels, kk).sum())
            low, high = binomial_ci(hits, q)
            typer.echo(f"top-{kk} accuracy: {hits / q:.4f}  ({hits}/{q}; 95% Wilson CI {low:.4f}-{high:.4f})")
    if out is not None:
        from safetensors.torch import save_file

        payload = {
            "distances": result.distances,
            "indices": result.indices,
            "labels": result.labels,
            "ids": result.ids,
        }
        if labels is not None:
            payload["query_labels"] = labels.to(torch.int64)
        with atomic_path(out) as tmp:
            save_file(
                {n: t.contiguous().cpu() for n, t in payload.items()},
                str(tmp),
                metadata={"kb": str(kb), "k": str(k), "encoder": base.encoder},
            )
        typer.echo(f"wrote {out}")
