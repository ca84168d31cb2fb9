"""CLI commands of the systems layer: ``semlink features`` and ``semlink export-onnx``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("features")
    def features(
        out: Path = typer.Option(..., "--out", help="safetensors file: 'features' [N,D], 'labels' [N], 'ids' [N]."),
        dataset: str = typer.Option("fashion-mnist", "--dataset", help="fashion-mnist | cifar100 | cifar10 | folder"),
        root: Path | None = typer.Option(None, "--root", help="Dataset folder (default: the dataset's own)."),
        split: str = typer.Option("test", "--split", help="train | test"),
        per_class: int | None = typer.Option(None, "--per-class", help="First N images of each class."),
        encoder: str = typer.Option("efficientnet-lite0", "--encoder", help="efficientnet-lite0 | clip:MODEL[@TAG|@PATH]"),
        image_size: int | None = typer.Option(None, "--image-size"),
        batch_size: int = typer.Option(256, "--batch-size"),
    ) -> None:
        """Extract L2-normalised image features into a file for `semlink kb build` / `kb query`."""
        import torch
        from safetensors.torch import save_file

        from semlink.data import load_dataset, subset_per_class
        from semlink.errors import SemlinkError
        from semlink.io import atomic_path
        from semlink.tx import create_encoder, extract_features

        if per_class is not None and per_class < 1:
            raise SemlinkError(f"--per-class {per_class}; must be a positive integer")
        images = load_dataset(dataset, root=root, split=split)
        if per_class is not None:
            images = images.subset(subset_per_class(images.labels, per_class, seed=None))
        enc = create_encoder(encoder, image_size=image_size)
        feats = extract_features(enc, images, batch_size=batch_size).cpu().contiguous()
        ids = images.indices if images.indices is not None else range(len(images))
        tensors = {
            "features": feats,
            "labels": torch.as_tensor(images.labels, dtype=torch.int64),
            "ids": torch.as_tensor(list(ids), dtype=torch.int64),
        }
        with atomic_path(out) as tmp:
            save_file(tensors, str(tmp), metadata={"encoder": enc.name, "dataset": dataset, "split": split})
        typer.echo(f"wrote {out}: {tuple(feats.shape)} features by {enc.name}")

    @app.command("export-onnx")
    def export_onnx(
        checkpoint: Path = typer.Argument(
            ..., help="A KBSC or deep-JSCC checkpoint folder (config.json + model.safetensors)."
        ),
        out: Path = typer.Option(..., "--out", help="Folder for tx_encoder.onnx and rx_decoder.onnx."),
        opset: int | None = typer.Option(None, "--opset"),
    ) -> None:
        """Export a trained transmitter and receiver as ONNX (KBSC: feature ↔ symbols; deep JSCC: image ↔ symbols)."""
        from semlink.systems.onnx_export import export_checkpoint

        paths = export_checkpoint(checkpoint, out, opset=opset)
        for p in paths:
            typer.echo(f"wrote {p}")
