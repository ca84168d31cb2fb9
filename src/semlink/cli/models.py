"""``semlink features`` (image features into a file) and ``semlink export-onnx`` (trained codecs as ONNX)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("features")
    def features(
        out: Path = typer.Option(..., "--out", help="safetensors file: 'features' [N,D], 'labels' [N], 'ids' [N]."),
        dataset: str = typer.Option(
            "fashion-mnist", "--dataset", help="fashion-mnist | cifar10 | cifar100 | folder | photos, or a plug-in's (`semlink list datasets`)."
        ),
        root: Path | None = typer.Option(None, "--root", help="Dataset folder (default: the dataset's own)."),
        split: str = typer.Option("test", "--split", help="train | test (a folder without train/ and test/: all)"),
        per_class: int | None = typer.Option(None, "--per-class", help="First N images of each class (default: all)."),
        encoder: str = typer.Option("efficientnet-lite0", "--encoder", help="efficientnet-lite0 | clip:MODEL@TAG | clip:MODEL@PATH (`semlink list encoders`)."),
        image_size: int | None = typer.Option(
            None, "--image-size", help="Encoder input size in pixels (default: the encoder's own, 64 for EfficientNet)."
        ),
        batch_size: int = typer.Option(256, "--batch-size", help="Images per encoder step."),
        data_option: list[str] | None = typer.Option(
            None, "--data-option", metavar="KEY=VALUE", help="A dataset option, repeatable; VALUE is JSON or text, e.g. "
            "folder: image_size=[64,64], alpha=refuse, background=black, unreadable=skip"
        ),
    ) -> None:
        """Extract L2-normalised image features into a file for `semlink kb build` / `kb query`.

        The file records the encoder's full spec and weights hash, and the dataset, split and class
        names of its labels, so a knowledge base built from it can encode image queries and refuse
        labels of another dataset.
        """
        import json

        from semlink.errors import SemlinkError
        from semlink.io import check_output_file

        check_output_file(out, example="features.safetensors")  # before the images are read and encoded
        import torch

        from semlink.data import load_dataset, subset_per_class
        from semlink.kb.feature_file import write_feature_file
        from semlink.kb.labels import LabelSet
        from semlink.tx import create_encoder, extract_features

        if per_class is not None and per_class < 1:
            raise SemlinkError(f"--per-class {per_class}; must be a positive integer")
        options = {}
        for item in data_option or []:
            key, sep, text = item.partition("=")
            if not sep or not key.strip():
                raise SemlinkError(f"--data-option {item!r} is not KEY=VALUE (e.g. unreadable=skip)")
            try:
                options[key.strip()] = json.loads(text)
            except json.JSONDecodeError:
                options[key.strip()] = text
        images = load_dataset(dataset, root=root, split=split, **options)
        for note in images.notes:
            typer.echo(f"note: {note}")
        if per_class is not None:
            images = images.subset(subset_per_class(images.labels, per_class, seed=None))
        enc = create_encoder(encoder, image_size=image_size)
        feats = extract_features(enc, images, batch_size=batch_size).cpu().contiguous()
        ids = images.indices if images.indices is not None else range(len(images))
        label_set = LabelSet.of(images)
        write_feature_file(
            out,
            feats,
            torch.as_tensor(images.labels, dtype=torch.int64),
            torch.as_tensor(list(ids), dtype=torch.int64),
            encoder=enc.name,
            encoder_weights=enc.weights_id,
            label_set=label_set,
        )
        typer.echo(f"wrote {out}: {tuple(feats.shape)} features by {enc.name}; labels: {label_set}")

    @app.command("export-onnx")
    def export_onnx(
        checkpoint: Path = typer.Argument(
            ..., help="A KBSC or deep-JSCC checkpoint folder (config.json + model.safetensors)."
        ),
        out: Path = typer.Option(..., "--out", help="Folder for tx_encoder.onnx and rx_decoder.onnx."),
        opset: int | None = typer.Option(None, "--opset", help="ONNX opset version (default: the one "
                                         "torch.onnx exports by default)."),
    ) -> None:
        """Export a trained transmitter and receiver as ONNX (KBSC: feature ↔ symbols; deep JSCC: image ↔ symbols)."""
        from semlink.io import check_output_folder

        check_output_folder(out)
        from semlink.systems.checkpoints import CONFIG_FILE, verify_checkpoint
        from semlink.systems.onnx_export import export_checkpoint

        if (checkpoint / CONFIG_FILE).is_file():  # a missing one: the exporter says what a checkpoint holds
            verify_checkpoint(checkpoint)

        paths = export_checkpoint(checkpoint, out, opset=opset)
        for p in paths:
            typer.echo(f"wrote {p}")
