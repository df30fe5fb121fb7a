"""`framing score` and the pandas API on real files: formats, errors, resume, jobs, dask."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from app.batch import ScoreOptions, run_score
from app.batch_io import BatchInputError

ROOT = Path(__file__).resolve().parent.parent
SCORE_COLUMNS = ["score_sovereignty", "score_sanctions", "score_ontological_security"]
DOCS = [
    {"id": "a", "text": "Sanctions bite hard.\n\nWe build our own chips now.", "outlet": "X", "date": "2024-03-05"},
    {"id": "b", "text": "Rain is expected on Sunday across the region.", "outlet": "Y", "date": "2024-04-01"},
    {"id": "c", "text": "Минпромторг поддержит отечественные станки вместо ушедших западных.", "outlet": "X", "date": "2024-04-20"},
]


def framing(*args, stdin=None, **kw):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, input=stdin, timeout=600, **kw)


def write_jsonl(path, rows, raw_lines=()):
    with open(path, "wb") as f:
        for r in rows:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode())
        for line in raw_lines:
            f.write(line + b"\n")
    return path


def read_output(path):
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False)
    return pd.DataFrame([json.loads(l) for l in path.read_text().splitlines()])


def run(tmp_path, inputs, out_name="out.jsonl", **kw):
    opts = {k: kw.pop(k) for k in list(kw) if k in ScoreOptions.__dataclass_fields__}
    return run_score(ScoreOptions(inputs=[str(i) for i in inputs], **opts), tmp_path / out_name, **kw)


@pytest.mark.parametrize("out_name", ["out.jsonl", "out.csv", "out.parquet"])
def test_every_output_format_has_the_same_rows(tmp_path, model, out_name):
    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    result = run(tmp_path, [src], out_name, documents=True)
    rows = read_output(tmp_path / out_name)
    assert list(rows.columns[:4]) == ["doc_id", "paragraph", "start", "end"]
    assert {"outlet", "date", *SCORE_COLUMNS, "labels"} <= set(rows.columns)
    assert list(zip(rows["doc_id"], rows["paragraph"])) == [("a", 0), ("a", 1), ("b", 0), ("c", 0)]
    a1 = rows.iloc[1]
    assert DOCS[0]["text"][a1["start"]:a1["end"]] == "We build our own chips now."
    expected = model.predict_proba(["Sanctions bite hard.", "We build our own chips now."])
    assert rows[SCORE_COLUMNS].iloc[:2].to_numpy() == pytest.approx(expected, abs=1e-12)
    labels = rows["labels"].iloc[0]
    assert "sanctions" in (labels.split(";") if isinstance(labels, str) else list(labels))
    docs = read_output(result.documents_output)
    assert list(docs["doc_id"]) == ["a", "b", "c"]
    assert docs.loc[0, "paragraphs"] == 2 and docs.loc[0, "share_sanctions"] == 0.5
    assert docs.loc[0, "max_sanctions"] == pytest.approx(rows["score_sanctions"].iloc[:2].max())
    assert result.stats["documents"] == 3 and result.stats["paragraphs"] == 4 and result.stats["errors"] == 0
    assert not (tmp_path / f"{out_name}.partial").exists()


@pytest.mark.parametrize("chunk_size", [500, 2])
def test_every_input_format(tmp_path, model, chunk_size):
    """Folders, text, JSONL, CSV and Parquet in one run, in order; with chunk size 2 the chunks
    also cut through inputs and span from one input into the next."""
    folder = tmp_path / "archive" / "2024"
    folder.mkdir(parents=True)
    (folder / "one.txt").write_text("Sanctions bite hard.\n\nSecond paragraph here.", "utf-8")
    (tmp_path / "archive" / "two.md").write_text("# Title\n\nWe build our own chips now.", "utf-8")
    write_jsonl(tmp_path / "in.ndjson", DOCS[:1])
    pd.DataFrame(DOCS[1:2]).to_csv(tmp_path / "in.csv", index=False)
    pd.DataFrame(DOCS[2:]).to_parquet(tmp_path / "in.parquet")
    result = run(tmp_path, [tmp_path / "archive", tmp_path / "in.ndjson", tmp_path / "in.csv", tmp_path / "in.parquet"],
                 chunk_size=chunk_size)
    rows = read_output(tmp_path / "out.jsonl")
    ids = list(dict.fromkeys(rows["doc_id"]))
    assert ids == [str(folder / "one.txt"), str(tmp_path / "archive" / "two.md"), "a", "b", "c"]
    assert result.stats["documents"] == 5 and result.stats["errors"] == 0
    assert set(rows.loc[rows["doc_id"] == "b", "outlet"]) == {"Y"}


def test_custom_text_and_id_fields_and_carried_columns(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"key": 7, "body": "Sanctions bite.", "url": "u", "meta": {"k": 1}}])
    run(tmp_path, [src], text_field="body", id_field="key")
    row = read_output(tmp_path / "out.jsonl").iloc[0]
    assert row["doc_id"] == "7" and row["url"] == "u" and json.loads(row["meta"]) == {"k": 1}


@pytest.mark.parametrize("chunk_size", [500, 3])
def test_bad_records_go_to_the_errors_file_with_reasons(tmp_path, chunk_size):
    """Every bad record is reported with its input and line, also when chunks cut the JSONL file
    into runs of 3 lines and span into the CSV and text inputs."""
    src = write_jsonl(tmp_path / "in.jsonl", DOCS[:1], raw_lines=[
        b'{"id": "broken", "text": ', b'{"id": "notext"}', b'{"id": "blank", "text": "  \\n "}',
        b'{"id": "null", "text": null}', b'{"id": "num", "text": 5}', b'{"id": "latin", "text": "caf\xe9"}',
        b'["not", "an", "object"]', b'{"id": "stars", "text": "*** --- ***"}'])
    csv_path = tmp_path / "in.csv"
    csv_path.write_bytes(b"id,text\ngood,Sanctions bite.\nbad,caf\xe9 au lait\n")
    bad_txt = tmp_path / "bad.txt"
    bad_txt.write_bytes(b"\xff\xfe broken")
    result = run(tmp_path, [src, csv_path, bad_txt], chunk_size=chunk_size)
    errors = [json.loads(l) for l in result.errors_output.read_text().splitlines()]
    reasons = {(e["input"].split("/")[-1], e["position"]): e["reason"] for e in errors}
    assert reasons[("in.jsonl", 2)].startswith("invalid JSON")
    assert reasons[("in.jsonl", 3)] == "missing text field 'text'"
    assert reasons[("in.jsonl", 4)] == "empty text"
    assert reasons[("in.jsonl", 5)] == "text field 'text' is null"
    assert reasons[("in.jsonl", 6)].startswith("text field 'text' is not a string")
    assert reasons[("in.jsonl", 7)].startswith("undecodable bytes")
    assert reasons[("in.jsonl", 8)] == "a line must be a JSON object"
    assert reasons[("in.jsonl", 9)].startswith("no paragraphs to score")
    assert reasons[("in.csv", 2)].startswith("undecodable bytes")
    assert reasons[("bad.txt", 1)].startswith("undecodable bytes")
    assert result.stats["errors"] == 10 == len(errors)
    assert result.stats["documents"] == 2  # 'a' and the good CSV row


def test_cli_exit_status_summary_and_group_plot(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", DOCS, raw_lines=[b"{oops"])
    out, plot = tmp_path / "out.csv", tmp_path / "by_month.png"
    r = framing("score", str(src), "-o", str(out), "--group-by", "date:month", "--plot", str(plot))
    assert r.returncode == 1, r.stderr  # one record failed
    assert "documents 3, paragraphs 4, errors 1" in r.stderr
    assert "2024-03" in r.stderr and "2024-04" in r.stderr and "sovereignty" in r.stderr
    assert plot.stat().st_size > 5000 and out.exists() and Path(f"{out}.errors.jsonl").exists()
    r = framing("score", str(src), "-o", str(out))
    assert r.returncode == 2 and "--overwrite" in r.stderr
    r = framing("score", str(tmp_path / "nope.jsonl"), "-o", str(out))
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    r = framing("score", str(src), "-o", str(tmp_path / "out.xlsx"))
    assert r.returncode == 2 and "output must end" in r.stderr


def test_cli_threshold_overrides_decide_the_labels(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    assert framing("score", str(src), "-o", str(tmp_path / "base.jsonl"), "-q").returncode == 0
    r = framing("score", str(src), "-o", str(tmp_path / "low.jsonl"), "-q", "--threshold", "ontological_security=0",
                "--threshold", "sanctions=1")
    assert r.returncode == 0, r.stderr
    base, low = read_output(tmp_path / "base.jsonl"), read_output(tmp_path / "low.jsonl")
    assert len(low) == 4
    pd.testing.assert_frame_equal(base[SCORE_COLUMNS], low[SCORE_COLUMNS])  # scores unchanged
    assert any("sanctions" in labels for labels in base["labels"])
    for labels, base_labels in zip(low["labels"], base["labels"]):
        assert "ontological_security" in labels and "sanctions" not in labels
        assert ("sovereignty" in labels) == ("sovereignty" in base_labels)


def test_stdin_jsonl_quiet(tmp_path):
    stdin = "".join(json.dumps(d) + "\n" for d in DOCS)
    r = framing("score", "-", "-o", str(tmp_path / "out.jsonl"), "--quiet", stdin=stdin)
    assert r.returncode == 0 and r.stderr == ""
    assert len(read_output(tmp_path / "out.jsonl")) == 4


def big_input(path, n_docs):
    rows = [{"id": f"d{i:05d}", "text": f"Document {i} opens here.\n\nSanctions and parallel imports, part {i}.\n\n"
                                          f"Домашний абзац номер {i} без рамки."} for i in range(n_docs)]
    return write_jsonl(path, rows)


def test_jobs_2_gives_the_same_rows_in_input_order(tmp_path):
    src = big_input(tmp_path / "in.jsonl", 300)
    one = run(tmp_path, [src], "one.parquet", chunk_size=40)
    two = run(tmp_path, [src], "two.parquet", chunk_size=40, jobs=2)
    a, b = pd.read_parquet(one.output), pd.read_parquet(two.output)
    assert len(a) == 900
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("out_name", ["out.jsonl", "out.csv"])
def test_parts_with_different_columns_give_one_table(tmp_path, out_name):
    """Chunks that carry different columns still give rows with every column (empty where absent)."""
    docs = [{"id": "a", "text": "Sanctions bite hard.", "outlet": "X"},
            {"id": "b", "text": "We build our own chips now.", "date": "2024-04-01"}, *DOCS]
    src = write_jsonl(tmp_path / "in.jsonl", docs)
    run(tmp_path, [src], out_name, chunk_size=1)
    rows = read_output(tmp_path / out_name)
    assert list(rows["doc_id"]) == ["a", "b", "a", "a", "b", "c"]
    assert {"outlet", "date"} <= set(rows.columns)
    assert rows["outlet"].iloc[0] == "X" and rows["date"].iloc[1] == "2024-04-01"
    assert all(pd.isna(v) or v == "" for v in (rows["date"].iloc[0], rows["outlet"].iloc[1]))
    for jobs in (1, 2):  # columns shared by every chunk: the parts rendered by the workers are joined as they are
        run(tmp_path, [write_jsonl(tmp_path / "same.jsonl", DOCS)], f"same{jobs}{out_name[3:]}", chunk_size=1,
            jobs=jobs)
    same = read_output(tmp_path / f"same1{out_name[3:]}")
    assert list(same["doc_id"]) == ["a", "a", "b", "c"]
    assert same.equals(read_output(tmp_path / f"same2{out_name[3:]}"))
    if out_name.endswith(".csv"):
        assert (tmp_path / f"same1{out_name[3:]}").read_text().startswith("doc_id,paragraph,start,end,")


@pytest.mark.parametrize("out_name", ["out.jsonl", "out.csv", "out.parquet"])
@pytest.mark.parametrize("chunk_size", [1, 10])
def test_a_field_typed_differently_across_records_is_kept_as_text(tmp_path, out_name, chunk_size):
    """Real archives mix types in one field ("year": 2024 here, "2024-25" there): the run finishes
    and writes such a column as text, within a chunk and across chunks, losing no value."""
    docs = [{"id": "a", "text": "Sanctions bite hard.", "year": 2024, "flag": True},
            {"id": "b", "text": "We build our own chips now.", "year": "2024-25", "flag": None},
            {"id": "c", "text": "Rain is expected on Sunday.", "year": 2023.5, "flag": "x"}]
    src = write_jsonl(tmp_path / "in.jsonl", docs)
    run(tmp_path, [src], out_name, chunk_size=chunk_size)
    rows = read_output(tmp_path / out_name)
    assert list(rows["doc_id"]) == ["a", "b", "c"]
    assert [str(v) for v in rows["year"]] == ["2024", "2024-25", "2023.5"]
    assert str(rows["flag"].iloc[0]).lower() == "true" and rows["flag"].iloc[2] == "x"
    assert pd.isna(rows["flag"].iloc[1]) or rows["flag"].iloc[1] in ("", None)


def test_resume_after_kill_gives_every_paragraph_exactly_once(tmp_path):
    src = big_input(tmp_path / "in.jsonl", 6000)
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "score", str(src), "-o", str(out),
                             "--chunk-size", "100", "-q"], cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(partial.glob("*.stats.json"))) < 5:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(partial.glob("*.stats.json")))
    assert 5 <= done_before < 60, "the kill must land in the middle of the run"
    assert not out.exists()  # a half-done run never looks finished
    r = framing("score", str(src), "-o", str(out), "--chunk-size", "100", "-q")
    assert r.returncode == 2 and "--resume" in r.stderr
    r = framing("score", str(src), "-o", str(out), "--chunk-size", "100", "-q", "--resume")
    assert r.returncode == 0, r.stderr
    rows = read_output(out)
    keys = list(zip(rows["doc_id"], rows["paragraph"]))
    assert len(keys) == len(set(keys)) == 18000
    assert keys == sorted(keys)  # input order survives the resume
    assert not partial.exists()


def test_resume_refuses_changed_options(tmp_path):
    src = big_input(tmp_path / "in.jsonl", 10)
    partial = tmp_path / "out.jsonl.partial"
    partial.mkdir()
    (partial / "manifest.json").write_text(json.dumps({"inputs": ["other"]}))
    with pytest.raises(BatchInputError, match="same inputs"):
        run(tmp_path, [src], resume=True)


def test_score_frame_is_the_cli_path(tmp_path, model):
    frame = pd.DataFrame(DOCS)
    api = model.score_frame(frame, text_column="text", id_column="id")
    run(tmp_path, [write_jsonl(tmp_path / "in.jsonl", DOCS)], "out.parquet")
    cli = pd.read_parquet(tmp_path / "out.parquet")
    assert list(api.columns) == list(cli.columns)
    assert api[SCORE_COLUMNS].to_numpy() == pytest.approx(cli[SCORE_COLUMNS].to_numpy(), abs=1e-12)
    assert [list(v) for v in api["labels"]] == [list(v) for v in cli["labels"]]


def test_dask_engine_on_a_local_cluster_with_two_workers(tmp_path, model):
    pytest.importorskip("dask.distributed")
    from app.distributed import score_with_dask

    src = tmp_path / "in"
    src.mkdir()
    docs = pd.DataFrame([{"id": f"d{i}", "text": d["text"], "outlet": d["outlet"]} for i, d in enumerate(DOCS * 20)])
    docs.iloc[:30].to_parquet(src / "part-0.parquet")
    docs.iloc[30:].assign(text=lambda f: f["text"].where(f.index != 59, "  ")).to_parquet(src / "part-1.parquet")
    result = score_with_dask([str(src)], tmp_path / "out", scheduler="local", n_workers=2,
                             thresholds={"sanctions": 0.0})
    assert result["partitions"] == 2 and result["skipped"] == 1 and result["documents"] == 59
    rows = pd.read_parquet(tmp_path / "out")
    local = model.score_frame(docs.iloc[:59], text_column="text", id_column="id", thresholds={"sanctions": 0.0})
    assert all("sanctions" in labels for labels in rows["labels"])  # the override reached the workers
    assert [list(v) for v in rows.sort_values(["doc_id", "paragraph"])["labels"]] == \
        [list(v) for v in local.sort_values(["doc_id", "paragraph"])["labels"]]
    assert len(rows) == len(local) == result["paragraphs"]
    merged = rows.merge(local, on=["doc_id", "paragraph"], suffixes=("", "_local"))
    for c in SCORE_COLUMNS:
        assert merged[c].to_numpy() == pytest.approx(merged[f"{c}_local"].to_numpy(), abs=1e-12)
