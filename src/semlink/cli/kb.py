"""``semlink kb build`` / ``semlink kb query``: the knowledge base from the command line.

``build`` indexes a features file (:mod:`semlink.kb.feature_file`) and keeps what its metadata
says: the encoder spec and weights hash, and the label set (dataset, split, class names).

``query`` takes either a features file (``--features``) or images (``--image``, files or folders
of files), which it encodes with the knowledge base's own encoder, rebuilt from the spec the
knowledge base records. It prints, per query, the predicted class and the ``k`` neighbours with
their class names, distances and ids, and, for labelled features, top-1/top-k accuracy with
Wilson intervals. Labels from another label set than the knowledge base's are refused, never
scored (:meth:`LabelSet.check_comparable`).

This module is command-line glue: it alone in ``semlink.kb`` reaches up to ``semlink.tx`` (the
encoder, inside ``query --image``); the library modules below it do not.

Bad input raises :class:`~semlink.errors.SemlinkError`; the ``semlink`` entry point prints it on
one line and exits with status 2.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from semlink.errors import CorruptFileError, MissingResourceError, SemlinkError
from semlink.kb.feature_file import read_feature_file

if TYPE_CHECKING:  # the CLI stays import-light: torch and FAISS load inside the commands
    import torch

    from semlink.kb.index import KnowledgeBase

app = typer.Typer(help="Build and query the receiver's FAISS knowledge base.", no_args_is_help=True, rich_markup_mode=None)

__all__ = ["app", "read_feature_file"]


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
        None, "--encoder", help="encoder spec (default: the file's 'encoder' metadata, else 'unknown')"
    ),
    metric: str = typer.Option("l2", "--metric", help="l2 or ip"),
    nprobe: int | None = typer.Option(
        None, "--nprobe", help="IVF lists visited per query (default: sqrt(lists), between 8 and all)"),
    ef_search: int | None = typer.Option(
        None, "--ef-search", help="HNSW efSearch (default: 64)"),
    seed: int = typer.Option(0, "--seed", help="seed of the IVF/PQ k-means"),
) -> None:
    """Index the features of a safetensors file and save the knowledge base to --out."""
    from semlink.io import check_output_folder

    check_output_folder(out)  # before the features are read and indexed
    from semlink.kb.index import KnowledgeBase

    ff = read_feature_file(features, need_labels=True)
    name = encoder or ff.encoder or "unknown"
    kb = KnowledgeBase.build(
        ff.features,
        ff.labels,
        ids=ff.ids,
        factory=factory,
        metric=metric,
        encoder=name,
        seed=seed,
        nprobe=nprobe,
        ef_search=ef_search,
        label_set=ff.label_set,
        # the weights hash belongs to the file's encoder; a spec given here may name another
        encoder_weights=ff.encoder_weights if name == ff.encoder else None,
    )
    kb.save(out)
    typer.echo(f"wrote {out}: {kb!r}")
    typer.echo(f"labels: {kb.label_set}")


@app.command()
def query(
    kb: Path = typer.Option(..., "--kb", help="knowledge-base directory written by 'semlink kb build'"),
    features: Path | None = typer.Option(
        None, "--features", help="safetensors file: query 'features' [Q,D], optional 'labels' [Q] and 'ids' [Q]"
    ),
    image: list[Path] | None = typer.Option(
        None,
        "--image",
        metavar="<path>",
        help="instead of --features: an image file, or a folder whose image files are all queries "
        "(sub-folders are not searched); repeat for more. Encoded with the knowledge base's own encoder. Transparent "
        "pixels are composited on white, 16-bit images scaled to 8 bits, EXIF rotation applied",
    ),
    k: int = typer.Option(5, "--k", help="neighbours per query"),
    predict: str = typer.Option(
        "majority",
        "--predict",
        help="majority: the class most frequent among the k neighbours (ties: the nearer); "
        "nearest: the nearest neighbour's class",
    ),
    show: int | None = typer.Option(
        None,
        "--show",
        help="queries whose neighbours are listed (default: all of them, except for --features without --json: none)",
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document instead of tables"),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="--features only: the encoder the queries came from (default: the file's 'encoder' "
        "metadata); must match the knowledge base's",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="also write the results (distances, indices, labels, ids, predicted) to this safetensors file",
    ),
) -> None:
    """Search the knowledge base with features or images: neighbours, predicted class, accuracy."""
    if out is not None:
        from semlink.io import check_output_file

        check_output_file(out, example="answers.safetensors")
    import torch

    from semlink.kb.answers import answers_json, answers_table, predict_labels
    from semlink.kb.index import KnowledgeBase

    if (features is None) == (not image):
        raise SemlinkError("give either --features FILE or --image PATH (one or more), not both or neither")
    if show is not None and show < 0:
        raise SemlinkError(f"--show {show}; must be 0 or more")
    if features is not None:
        base, queries, truth, names, notes = _feature_queries(kb, features, encoder)
        shown = (len(names) if as_json else 0) if show is None else show
    else:
        if encoder is not None:
            raise SemlinkError("--encoder applies to --features; images are encoded with the knowledge base's own encoder")
        base = KnowledgeBase.load(kb)
        paths = _image_paths(image or [])
        queries, notes = _encode_images(base, kb, paths)
        truth, names = None, [str(p) for p in paths]
        shown = len(names) if show is None else show
    if base.label_set.class_names is None:
        notes.append(f"knowledge base {kb} records no class names (built before semlink recorded them): labels shown as numbers")

    result = base.search(queries, k=k)
    predicted, votes = predict_labels(result.labels, predict)
    accuracy, accuracy_lines = _accuracy(result.labels, predicted, truth, k, predict)
    distinct = int(torch.unique(base.labels).numel())
    if accuracy and k >= distinct:
        notes.append(f"k={k} is at least the {distinct} classes in the knowledge base: top-{k} accuracy says little")

    if as_json:
        typer.echo(json.dumps({
            "knowledge_base": {"path": str(kb), "items": base.ntotal, "dim": base.dim, "factory": base.factory,
                               "metric": base.metric, "encoder": base.encoder, **base.label_set.to_json()},
            "k": k,
            "prediction": predict,
            "notes": notes,
            "accuracy": accuracy,
            "queries": answers_json(names[:shown], result, predicted, votes, base.label_set, truth),
        }, indent=2))
    else:
        typer.echo(
            f"knowledge base {kb}: {base.ntotal} items, dim {base.dim}, factory {base.factory!r}, "
            f"encoder {base.encoder!r}"
        )
        typer.echo(f"labels: {base.label_set}")
        typer.echo(f"queries: {queries.shape[0]}, k: {k}")
        for note in notes:
            typer.echo(f"note: {note}")
        if shown:
            typer.echo(answers_table(names[:shown], result, predicted, votes, base.label_set, base.metric, predict,
                                     truth))
            typer.echo("")
        if features is not None and truth is None:
            typer.echo(f"{features} has no 'labels': accuracy not computed")
        elif features is not None and queries.shape[0] == 0:
            typer.echo("no queries: accuracy not computed")
        for line in accuracy_lines:
            typer.echo(line)
    if out is not None:
        _write_results(out, result, predicted, truth, kb, k, base.encoder)
        if not as_json:
            typer.echo(f"wrote {out}")


def _feature_queries(
    kb: Path, features: Path, encoder: str | None
) -> tuple[KnowledgeBase, torch.Tensor, torch.Tensor | None, list[str], list[str]]:
    """``(knowledge base, queries [Q, D], labels [Q] or None, names, notes)`` of a features file,
    its labels refused when they belong to another label set than the knowledge base's."""
    from semlink.kb.index import KnowledgeBase

    ff = read_feature_file(features, need_labels=False)
    base = KnowledgeBase.load(kb, expect_encoder=encoder or ff.encoder, expect_dim=int(ff.features.shape[1]))
    notes = []
    if ff.labels is not None:
        base.label_set.check_comparable(ff.label_set, f"knowledge base {kb}", str(features))
        if base.label_set.class_names is None or ff.label_set.class_names is None:
            unnamed = "the knowledge base" if base.label_set.class_names is None else str(features)
            notes.append(
                f"the class names of {unnamed} are not recorded (written before semlink recorded them), so "
                "semlink cannot confirm that both number their classes alike; accuracy assumes they do"
            )
    ids = ff.ids.tolist() if ff.ids is not None else None
    names = [f"query {i}" + (f" (id {ids[i]})" if ids else "") for i in range(ff.features.shape[0])]
    return base, ff.features, ff.labels, names, notes


def _accuracy(found: torch.Tensor, predicted: torch.Tensor, truth: torch.Tensor | None, k: int,
              rule: str) -> tuple[dict[str, Any] | None, list[str]]:
    """Top-1/top-k (and majority-vote) accuracy with 95 % Wilson intervals, and the lines that say it
    (``(None, [])`` without labelled queries)."""
    from semlink.metrics import binomial_ci, top_k_hits

    if truth is None or truth.shape[0] == 0:
        return None, []
    q = int(truth.shape[0])
    scores: dict[str, Any] = {"queries": q}
    lines = []
    counts = {f"top{kk}": int(top_k_hits(found, truth, kk).sum()) for kk in sorted({1, k})}
    if rule == "majority" and k > 1:
        counts["majority"] = int((predicted == truth.to(predicted.dtype)).sum())
    for name, hits in counts.items():
        low, high = binomial_ci(hits, q)
        scores[name] = {"hits": hits, "accuracy": hits / q, "ci95": [low, high]}
        title = f"top-{name[3:]} accuracy" if name.startswith("top") else f"majority-of-{k} accuracy"
        lines.append(f"{title}: {hits / q:.4f}  ({hits}/{q}; 95% Wilson CI {low:.4f}-{high:.4f})")
    return scores, lines


def _image_paths(items: list[Path]) -> list[Path]:
    """The image files named by ``--image``: files as given, folders' image files (by extension) sorted."""
    from PIL import Image

    extensions = {ext.lower() for ext in Image.registered_extensions()}
    paths: list[Path] = []
    for item in items:
        if item.is_dir():
            found = sorted(
                p for p in item.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions
            )
            if not found:
                raise MissingResourceError(
                    f"folder {item} holds no image files (.png, .jpg, ...); sub-folders are not searched"
                )
            paths += found
        elif item.is_file():
            paths.append(item)
        else:
            raise MissingResourceError(f"image {item} not found")
    return paths


def _encode_images(base: KnowledgeBase, where: Path, paths: list[Path]) -> tuple[torch.Tensor, list[str]]:
    """``([Q, D] float32 features, notes)``: each image decoded by :func:`semlink.imaging.read_image`
    and encoded by the knowledge base's encoder (images of one size share a batch)."""
    import numpy as np
    import torch

    from semlink.imaging import CONVERSIONS, read_image

    encoder = _knowledge_base_encoder(base, where)
    notes, pixels = [], []
    for path in paths:
        decoded = read_image(path)
        pixels.append(decoded.pixels)
        notes += [f"{path}: {CONVERSIONS[c]}{' white' if c == 'alpha' else ''}" for c in decoded.conversions]
    by_size: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, image in enumerate(pixels):
        by_size[image.shape].append(i)
    feats = torch.empty(len(pixels), encoder.dim, dtype=torch.float32)
    for rows in by_size.values():
        feats[rows] = encoder.encode(np.stack([pixels[i] for i in rows])).cpu()
    return feats, notes


def _knowledge_base_encoder(base: KnowledgeBase, where: Path) -> Any:
    """The encoder the knowledge base records, rebuilt, after checking it is the same one."""
    from semlink.tx import available_encoders, create_encoder, parse_encoder_spec

    if parse_encoder_spec(base.encoder)[0] not in available_encoders():
        raise SemlinkError(
            f"knowledge base {where} records encoder {base.encoder!r}, which semlink cannot build to encode "
            f"images (encoders: {', '.join(available_encoders())}); build the knowledge base from a file "
            "written by 'semlink features', or query it with --features"
        )
    try:
        encoder = create_encoder(base.encoder)
    except (MissingResourceError, CorruptFileError):
        raise
    except SemlinkError as err:
        raise SemlinkError(f"knowledge base {where} records encoder {base.encoder!r}, which cannot be built: {err}") from err
    if encoder.name != base.encoder:
        raise SemlinkError(
            f"knowledge base {where} records encoder {base.encoder!r}, which leaves its weights or input size "
            f"open (it builds as {encoder.name!r}); rebuild the knowledge base with --encoder set to the full "
            "spec its features were made with"
        )
    if base.encoder_weights is not None and encoder.weights_id != base.encoder_weights:
        raise SemlinkError(
            f"the weights of encoder {base.encoder!r} changed since knowledge base {where} was built (sha256 "
            f"{encoder.weights_id[:12]}... now, {base.encoder_weights[:12]}... then); rebuild the knowledge base"
        )
    if encoder.dim != base.dim:
        raise SemlinkError(f"encoder {encoder.name!r} gives {encoder.dim}-d features but knowledge base {where} "
                           f"has dimension {base.dim}")
    return encoder


def _write_results(out: Path, result: Any, predicted: torch.Tensor, truth: torch.Tensor | None, kb: Path, k: int,
                   encoder: str) -> None:
    import torch
    from safetensors.torch import save_file

    from semlink.io import atomic_path

    payload = {"distances": result.distances, "indices": result.indices, "labels": result.labels,
               "ids": result.ids, "predicted": predicted}
    if truth is not None:
        payload["query_labels"] = truth.to(torch.int64)
    with atomic_path(out) as tmp:
        save_file({n: t.contiguous().cpu() for n, t in payload.items()}, str(tmp),
                  metadata={"kb": str(kb), "k": str(k), "encoder": encoder})
