"""The ``framing`` command: serve, train, evaluate, score."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

cli = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Framing classifier: tag paragraphs with sovereignty, sanctions and "
                       "ontological-security framings.")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


THRESHOLD_HELP = ("LABEL=VALUE: a decision threshold in [0, 1] replacing the model's for LABEL; repeat for "
                  "several labels.")


def parse_thresholds(pairs: list[str] | None) -> dict[str, float]:
    """``["sanctions=0.4", ...]`` -> ``{"sanctions": 0.4}``, or exit 2 with the reason."""
    from .labels import LABELS

    out: dict[str, float] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep:
            fail(f"--threshold {pair!r}: expected LABEL=VALUE, e.g. sanctions=0.4")
        if name not in LABELS:
            fail(f"--threshold {pair!r}: unknown label {name!r}; labels are {', '.join(LABELS)}")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not 0 <= number <= 1:
            fail(f"--threshold {pair!r}: the threshold must be a number from 0 to 1")
        out[name] = number
    return out


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    model: Annotated[Optional[Path], typer.Option(help="Model file (default: FRAMING_MODEL_PATH or the shipped model).")] = None,
):
    """Start the HTTP API and web page (uvicorn)."""
    import os
    import signal

    import uvicorn

    from .model import FramingModel, ModelLoadError
    from .settings import Settings

    if model is not None:
        os.environ["FRAMING_MODEL_PATH"] = str(model)
    settings = Settings()
    try:  # refuse to start on a bad model, with one line, before any worker spawns
        FramingModel.load_shared(settings.model_path)
    except ModelLoadError as exc:
        fail(str(exc))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, restores the previous handlers and re-raises
    # the signal; with these handlers that re-raise ends the process with status 0 (a clean stop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
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
    threshold: Annotated[Optional[list[str]], typer.Option(help=THRESHOLD_HELP)] = None,
):
    """Per-label precision/recall/F1 by language, with bootstrap intervals and baselines."""
    from training.corpus import DataError, read_labelled
    from training.evaluate import evaluate as run, format_report

    from .model import FramingModel, ModelLoadError

    if not data.is_file():
        fail(f"{data} does not exist")
    thresholds = parse_thresholds(threshold)
    try:
        rows = read_labelled(data)
        fm = FramingModel.load(model)
    except (DataError, ModelLoadError) as exc:
        fail(str(exc))
    if not rows:
        fail(f"{data} holds no records")

    limits = fm.resolve_thresholds(thresholds)
    report = run(rows, samples=bootstrap, scores=fm.predict_proba, thresholds=limits)
    report["model"] = {"name": fm.metadata.get("name"), "version": fm.metadata.get("version")}
    report["thresholds"] = dict(zip(fm.labels, limits.tolist()))
    report["data"] = str(data)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(format_report(report, f"{data} with {fm.metadata.get('name')} {fm.metadata.get('version')}"))


@cli.command()
def score(
    inputs: Annotated[list[str], typer.Argument(help="Files (.txt .md .jsonl .ndjson .csv .parquet), folders, or - for stdin JSONL.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Paragraph rows: .jsonl, .csv or .parquet (a folder for --engine dask).")],
    text_field: Annotated[str, typer.Option(help="Field/column holding the text.")] = "text",
    id_field: Annotated[str, typer.Option(help="Field/column holding the document id (default: input:line).")] = "id",
    documents: Annotated[bool, typer.Option("--documents", help="Also write one row per document to OUTPUT's stem + .documents.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    errors: Annotated[Optional[Path], typer.Option(help="Where bad records go (default: OUTPUT.errors.jsonl).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish an interrupted run of the same command.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing OUTPUT.")] = False,
    group_by: Annotated[Optional[str], typer.Option(help="Prevalence per value of COLUMN, or per COLUMN:month / COLUMN:year of a date.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Draw prevalence per group (or overall) to this PNG.")] = None,
    include_text: Annotated[bool, typer.Option("--include-text", help="Put each paragraph's text in its row.")] = False,
    threshold: Annotated[Optional[list[str]], typer.Option(help=THRESHOLD_HELP)] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Documents per work unit.")] = 500,
    model: Annotated[Optional[Path], typer.Option(help="Model file (default: the shipped model).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
    engine: Annotated[str, typer.Option(help="local, or dask for a dask.distributed cluster.")] = "local",
    scheduler: Annotated[str, typer.Option(help="With --engine dask: a scheduler address, or 'local'.")] = "local",
):
    """Score documents into paragraph rows (and document rows), streaming, resumable.

    Exit status: 0 all records scored, 1 some records failed (see the errors file), 2 the run
    could not start (bad paths or options).
    """
    from .batch import ScoreOptions, format_summary, plot_groups, run_score
    from .batch_io import BatchInputError
    from .model import DEFAULT_MODEL_PATH, ModelLoadError

    thresholds = parse_thresholds(threshold)
    if engine == "dask":
        from .distributed import score_with_dask

        try:
            result = score_with_dask(inputs, output, scheduler=scheduler, text_field=text_field,
                                     id_field=id_field, model_path=model or DEFAULT_MODEL_PATH,
                                     thresholds=thresholds)
        except (BatchInputError, ModelLoadError, ImportError) as exc:
            fail(str(exc))
        if not quiet:
            typer.echo(f"documents {result['documents']}, paragraphs {result['paragraphs']}, "
                       f"skipped (missing or empty text) {result['skipped']}; "
                       f"{result['partitions']} partitions in {output}", err=True)
        if result["skipped"]:
            raise typer.Exit(1)
        return
    if engine != "local":
        fail("--engine must be local or dask")
    options = ScoreOptions(inputs=list(inputs), text_field=text_field, id_field=id_field, chunk_size=chunk_size,
                           documents=documents, group_by=group_by, include_text=include_text,
                           thresholds=thresholds)
    try:
        result = run_score(options, output, model_path=model, jobs=jobs, errors_output=errors, resume=resume,
                           overwrite=overwrite, progress=not quiet and sys.stderr.isatty())
    except (BatchInputError, ModelLoadError) as exc:
        fail(str(exc))
    if plot:
        plot_groups(result.stats, result.labels, plot, group_by or "label")
    if not quiet:
        typer.echo(format_summary(result), err=True)
    if result.stats["errors"]:
        raise typer.Exit(1)


def main() -> None:  # console-script entry point
    import atexit
    import gc
    import os

    # At exit the interpreter's last collection walks every object (numpy, scipy, pandas, the
    # model) only to free memory the OS reclaims anyway: 0.15-0.3 s of every short command.
    atexit.register(gc.freeze)
    try:
        cli(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # never a stack trace for users; FRAMING_DEBUG=1 shows it
        if os.environ.get("FRAMING_DEBUG"):
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
