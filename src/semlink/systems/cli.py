"""CLI commands of the systems layer: ``semlink run`` and ``semlink export-onnx``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Path = typer.Argument(..., help="Experiment TOML (see configs/)."),
        out: Path = typer.Option(..., "--out", help="Output folder."),
        resume: bool = typer.Option(False, "--resume", help="Continue a killed run in --out."),
    ) -> None:
        """Run an experiment: systems × channels × SNRs → results tables, manifest, plots."""
        from semlink.systems.experiment import load_experiment, run_experiment

        cfg = load_experiment(config)
        frame = run_experiment(cfg, out, resume=resume)
        cols = [c for c in ("system", "channel", "snr_db", "channel_uses", "top1_accuracy", "top5_accuracy")
                if c in frame.columns]
        typer.echo(frame[cols].to_string(index=False))

    @app.command("export-onnx")
    def export_onnx(
        checkpoint: Path = typer.Argument(..., help="A KBSC checkpoint folder (config.json + model.safetensors)."),
        out: Path = typer.Option(..., "--out", help="Folder for tx_encoder.onnx and rx_decoder.onnx."),
        opset: int | None = typer.Option(None, "--opset"),
    ) -> None:
        """Export a trained KBSC transmitter (feature → symbols) and receiver (symbols → feature) as ONNX."""
        from semlink.systems.onnx_export import export_codec

        paths = export_codec(checkpoint, out, opset=opset)
        for p in paths:
            typer.echo(f"wrote {p}")
