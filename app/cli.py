"""The ``framing`` command: serve, train, evaluate, score."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

cli = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Framing classifier: tag paragraphs with sovereignty, sanctions and "
                       "ontological-security framings.")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    model: Annotated[Optional[Path], typer.Option(help="Model file (default: FRAMING_MODEL_PATH or the shipped model).")] = None,
):
    """Start the HTTP API and web page (uvicorn)."""
    import os

    import uvicorn

    from .model import FramingModel, ModelLoadError
    from .settings import Settings

    if model is not None:
        os.environ["FRAMING_MODEL_PATH"] = str(model)
    settings = Settings()
    try:  # refuse to start on a bad model, with one line, before any worker spawns
        FramingModel.load(settings.model_path)
    except ModelLoadError as exc:
        fail(str(exc))
    uvicorn.run("app.main:app", host=host, port=port, workers=workers, log_level=settings.log_level,
                timeout_graceful_shutdown=30, access_log=False)


@cli.command()
def train(
    corpus: Annotated[Path, typer.Option(help="Folder of corpus *.jsonl files.")] = Path("training/corpus"),
    out: Annotated[Path, typer.Option(help="Where to write the skops artifact.")] = Path("models/framing.skops"),
):
    """Train on the corpus with grouped cross-validation; write the model, metadata and plots."""
    from training.corpus import DataError
    from training.train import train as run

    try:
        run(corpus, out, log=lambda m: typer.echo(m, err=True))
    except (DataError, ValueError) as exc:
        fail(str(exc))


@cli.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled JSONL: text, labels (and lang, id).")],
    model: Annotated[Optional[Path], typer.Option(help="Model file (default: the shipped model).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the 95% intervals.")] = 1000,
):
    """Per-label precision/recall/F1 by language, with bootstrap intervals and baselines."""
    from training.corpus import DataError, read_labelled
    from training.evaluate import evaluate as run, format_report

    from .model import FramingModel, ModelLoadError

    if not data.is_file():
        fail(f"{data} does not exist")
    try:
        rows = read_labelled(data)
        fm = FramingModel.load(model)
    except (DataError, ModelLoadError) as exc:
        fail(str(exc))
    if not rows:
        fail(f"{data} holds no records")

    def predict(texts):
        return (fm.predict_proba(texts) >= fm.thresholds).astype(int)

    report = run(rows, predict, samples=bootstrap)
    report["model"] = {"name": fm.metadata.get("name"), "version": fm.metadata.get("version")}
    report["data"] = str(data)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(format_report(report, f"{data} with {fm.metadata.get('name')} {fm.metadata.get('version')}"))


def main() -> None:  # console-script entry point
    cli()


if __name__ == "__main__":
    sys.exit(main())
