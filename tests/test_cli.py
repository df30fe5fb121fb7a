"""The `framing` command: train on a small corpus, evaluate, and refuse bad input clearly."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def framing(*args, **kw):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, **kw)


def test_evaluate_json_on_seed_labels():
    r = framing("evaluate", "--data", "seeds/labels.jsonl", "--json", "--bootstrap", "50")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    for key in ("n", "macro_f1", "micro_f1", "per_label", "by_lang", "baselines"):
        assert key in report
    assert report["n"] == 53 and set(report["by_lang"]) == {"en"}
    for m in report["per_label"].values():
        assert {"precision", "recall", "f1", "support"} <= set(m)
    assert 0 <= report["macro_f1_ci"][0] <= report["macro_f1"] <= report["macro_f1_ci"][1] <= 1
    assert report["baselines"]["always_none"]["macro_f1"] == 0.0


def test_evaluate_threshold_overrides_change_the_decisions_not_the_ranking():
    base = json.loads(framing("evaluate", "--data", "seeds/labels.jsonl", "--json", "--bootstrap", "0").stdout)
    r = framing("evaluate", "--data", "seeds/labels.jsonl", "--json", "--bootstrap", "0",
                "--threshold", "sanctions=0", "--threshold", "sovereignty=1")
    assert r.returncode == 0, r.stderr
    low = json.loads(r.stdout)
    assert low["thresholds"]["sanctions"] == 0 and low["thresholds"]["sovereignty"] == 1
    assert low["thresholds"]["ontological_security"] == base["thresholds"]["ontological_security"] < 1
    # every paragraph is tagged sanctions at 0, so recall is 1 and precision is the label's share
    sanc = low["per_label"]["sanctions"]
    assert sanc["recall"] == 1 and sanc["precision"] == pytest.approx(sanc["support"] / 53)
    assert low["per_label"]["sovereignty"]["recall"] < base["per_label"]["sovereignty"]["recall"]
    assert low["per_label"]["ontological_security"] == base["per_label"]["ontological_security"]
    for label, m in low["per_label"].items():  # average precision does not depend on thresholds
        assert 0 < m["average_precision"] == base["per_label"][label]["average_precision"] <= 1


@pytest.mark.parametrize("value, message", [("sanction=0.3", "unknown label 'sanction'"),
                                            ("sanctions=1.5", "from 0 to 1"), ("sanctions=high", "from 0 to 1"),
                                            ("sanctions", "expected LABEL=VALUE")])
def test_bad_threshold_is_refused_with_the_reason(value, message, tmp_path):
    for command in (["evaluate", "--data", "seeds/labels.jsonl"], ["score", "seeds/labels.jsonl", "-o", str(tmp_path / "o.jsonl")]):
        r = framing(*command, "--threshold", value)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_evaluate_text_report_has_baselines():
    r = framing("evaluate", "--data", "seeds/labels.jsonl", "--bootstrap", "20")
    assert r.returncode == 0
    assert "macro-F1 against baselines" in r.stdout and "keyword" in r.stdout


def test_evaluate_refuses_bad_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "labels": []}\n{"text": "x", "labels": ["nope"]}\n')
    r = framing("evaluate", "--data", str(bad))
    assert r.returncode == 2 and "bad.jsonl:2" in r.stderr and "Traceback" not in r.stderr
    r = framing("evaluate", "--data", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """Every 6th paragraph of the corpus: enough to train quickly, same batches and languages."""
    src = sorted((ROOT / "training" / "corpus").glob("*.jsonl"))
    dst = tmp_path_factory.mktemp("corpus")
    for path in src:
        lines = path.read_text("utf-8").splitlines()[::6]
        (dst / path.name).write_text("\n".join(lines) + "\n", "utf-8")
    return dst


def test_train_writes_a_loadable_deterministic_model(small_corpus, tmp_path):
    from app import FramingModel

    metas = []
    for run in ("a", "b"):
        out = tmp_path / run / "framing.skops"
        r = framing("train", "--corpus", str(small_corpus), "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert "chosen (1-SE rule):" in r.stderr
        meta = json.loads(out.with_suffix(".json").read_text())
        for key in ("artifact_sha256", "corpus_sha256", "libraries", "thresholds", "metrics", "params"):
            assert key in meta
        assert (out.parent / "pr_curves.png").stat().st_size > 1000
        assert (out.parent / "calibration.png").stat().st_size > 1000
        metas.append(meta)
        model = FramingModel.load(out)
        assert model.predict_proba(["Sanctions bite."]).shape == (1, 3)
    assert metas[0]["metrics"] == metas[1]["metrics"]
    assert metas[0]["thresholds"] == metas[1]["thresholds"]
    assert metas[0]["corpus_sha256"] == metas[1]["corpus_sha256"]
