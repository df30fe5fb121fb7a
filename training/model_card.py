"""Write ``models/MODEL_CARD.md`` from ``framing.json`` and fresh evaluations.

    python -m training.model_card

Evaluates the shipped model on the seed labels and, when ``../shared/eval/real_dev.jsonl`` is
present, on that real-text set (evaluation only), with the baselines; stores the reports in
``models/evaluation.json`` and renders the card.
"""

from __future__ import annotations

import json
from pathlib import Path

from app import FramingModel
from app.labels import LABELS

from .corpus import read_labelled
from .evaluate import evaluate

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "eval" / "real_dev.jsonl"
TARGETS = {"real_dev en": 0.75, "real_dev ru": 0.70, "seeds": 0.80}


def ci(v) -> str:
    return f"[{v[0]:.2f}, {v[1]:.2f}]"


def label_table(section: dict) -> list[str]:
    ranked = "macro_average_precision" in section
    lines = ["| label | precision | recall | F1 | F1 95% CI | support |" + (" AP | best F1 at any threshold |" if ranked else ""),
             "|---|---|---|---|---|---|" + ("---|---|" if ranked else "")]
    for label, m in section["per_label"].items():
        row = (f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
               f"{ci(m['f1_ci']) if 'f1_ci' in m else ''} | {m['support']} |")
        if ranked:
            row += (f" {m['average_precision']:.3f} | {m['best_f1']:.3f} (at {m['best_threshold']:.3f}) |"
                    if m.get("average_precision") is not None else " - | - |")
        lines.append(row)
    return lines


def ranking_limit(reports: dict) -> list[str]:
    """What thresholds could and could not fix on real text, from the reports' ranking figures."""
    if "real_dev" not in reports or "macro_average_precision" not in reports["real_dev"]:
        return []
    parts, short, within = [], [], []
    for lang, sec in reports["real_dev"]["by_lang"].items():
        best = [m["best_f1"] for m in sec["per_label"].values() if m.get("best_f1") is not None]
        hindsight = sum(best) / len(best)
        worst = min(sec["per_label"].items(), key=lambda kv: kv[1].get("average_precision") or 1)
        parts.append(f"{lang} {hindsight:.3f} (lowest average precision: {worst[0]}, "
                     f"{worst[1]['average_precision']:.2f})")
        target = TARGETS.get(f"real_dev {lang}")
        if target is not None:
            (within if hindsight >= target else short).append(lang)
    lines = ["Where the limit is: the macro-F1 that the best threshold per label would give on the real set",
             "(hindsight, computed for this diagnosis and used to set nothing) is " + "; ".join(parts) + "."]
    if short:
        lines.append(f"For {', '.join(short)} that is under the target, so no choice of thresholds reaches it: the model "
                     "ranks real paragraphs too poorly, a matter of training data, not of tuning.")
    if within:
        lines.append(f"For {', '.join(within)} it is over the target: there the thresholds set on the clean corpus are "
                     "part of the gap (real paragraphs score lower), but thresholds fitted to this set would not "
                     "be an honest figure.")
    return lines


def main() -> None:
    model = FramingModel.load()
    meta = model.metadata

    decide = {"scores": model.predict_proba, "thresholds": model.resolve_thresholds()}
    reports = {"seeds": evaluate(read_labelled(ROOT / "seeds" / "labels.jsonl"), **decide)}
    if REAL.exists():
        reports["real_dev"] = evaluate(read_labelled(REAL), **decide)
    (ROOT / "models" / "evaluation.json").write_text(json.dumps(reports, indent=1) + "\n")

    cv = meta["metrics"]["cross_validation"]
    p = meta["params"]
    chosen = meta["selection"][0]  # the candidate the 1-SE rule chose (first in the ranking)
    out = [
        f"# Model card: {meta['name']} {meta['version']}",
        "",
        f"Created {meta['created']}; artifact `models/{meta['artifact']}` ({meta['artifact_bytes'] / 1e6:.1f} MB, "
        f"sha256 `{meta['artifact_sha256'][:16]}…`) and its scoring export `models/{meta.get('scorer', 'framing.npz')}` "
        f"(sha256 `{str(meta.get('scorer_sha256'))[:16]}…`); corpus sha256 `{meta['corpus_sha256'][:16]}…` "
        f"({meta['corpus_paragraphs']} paragraphs: {meta['corpus_by_lang']}); seed {meta['seed']}; "
        + ", ".join(f"{k} {v}" for k, v in meta["libraries"].items()) + ".",
        "",
        "## What it does",
        "Tags each paragraph of a news or analysis text, English or Russian, with the framings it uses:",
        "`sovereignty` (technological and economic independence), `sanctions` (external economic pressure and",
        "the response to it) and `ontological_security` (national identity, status, historical continuity),",
        "as defined by the project's codebook. It returns a calibrated probability per label, the labels at or",
        "above per-label thresholds, and the words that pushed each score up.",
        "",
        "## Intended use and users",
        "Disinformation researchers, policy analysts, journalists and media scholars who want to find and count",
        "these framings across many texts, outlets and months, and to read the evidence paragraph by paragraph.",
        "It is a triage and measurement aid: aggregate counts over many paragraphs are more reliable than any",
        "single tag, and a human should read the paragraphs behind any claim.",
        "",
        "Not for: judging whether a text is true, false, propaganda or disinformation; rating or blocking a",
        "source or a person; any automated decision about people. **Framing is not falsehood**: a Western",
        "analyst's critique of import substitution carries `sovereignty` just as a Kremlin statement does, and",
        "**a tag is not a verdict on a source**.",
        "",
        "## Model",
        f"Word TF-IDF (n-grams {tuple(p['word'])}) and character TF-IDF (`char_wb`, n-grams {tuple(p['char'])}),",
        f"sublinear tf, min_df {p['min_df']}, max_df 0.9, at most {p['max_char_features']:,} character features",
        f"({p['n_features']:,} features in all); one-vs-rest logistic regression (C={p['C']}, class_weight="
        f"{p['class_weight']}) with sigmoid calibration ({p['calibration']}).",
        *([f"The classifier is trained on the corpus plus joined pairs: {p['augment_pairs']:.0%} of the paragraphs are",
           "each also joined with a random paragraph of their language, labels united (vocabulary and idf come",
           "from the paragraphs as written). Real paragraphs mix topics and carry a framing in one sentence among",
           "others; the corpus's single-purpose paragraphs never test that, and without pairs the model lost",
           "0.07-0.09 macro-F1 on held-out joined pairs."] if p.get("augment_pairs") else []),
        *([f"Also {p['augment_diluted']:.0%} of the paragraphs are *diluted*: joined with two random no-label",
           "paragraphs of their language, keeping their own labels, so that a framing stated once in a long",
           "passage about other things still counts (the seed articles showed such misses)."]
          if p.get("augment_diluted") else []),
        "Settings were chosen by grouped 5-fold cross-validation on the corpus (paragraphs grouped by writing",
        "batch, groups stratified by language and label), scored by the mean macro-F1 on held-out paragraphs",
        f"as written ({chosen['macro_f1_plain']:.3f} for the chosen settings), on held-out joined pairs",
        f"({chosen['macro_f1_mixed']:.3f})"
        + (f" and on held-out diluted paragraphs ({chosen['macro_f1_diluted']:.3f})" if "macro_f1_diluted" in chosen
           else "") + ", taking the most regularised candidate within one",
        "standard error of the best. Thresholds maximise out-of-fold F1 per label with no-label",
        f"paragraphs weighted to {meta['metrics']['threshold_prior_none_share']:.0%} of the data (real text is",
        "mostly none; the corpus has 49% none). Nothing was chosen by looking at real evaluation text.",
        "",
        "| label | threshold | ECE (out-of-fold) |", "|---|---|---|",
        *[f"| {l} | {meta['thresholds'][l]:.3f} | {meta['metrics']['ece'][l]:.3f} |" for l in LABELS],
        "",
        "Plots: `models/pr_curves.png` (out-of-fold precision-recall per label) and `models/calibration.png`",
        "(reliability of the calibrated scores).",
        "",
        "Two files, one model: `framing.skops` is the fitted scikit-learn pipeline (load it with",
        "`FramingModel.load().pipeline` to inspect or reuse it); `framing.npz` holds the same vocabularies, idf",
        "weights, coefficients and calibrators as plain arrays, and is what the service and `framing score` use",
        "(no scikit-learn import, so a worker stays small). Both are checked against the sha256 in",
        "`framing.json` on load, and the two give the same scores to 1e-9 (tested).",
        "",
        "## Data",
        f"{meta['corpus_paragraphs']:,} paragraphs ({meta['corpus_by_lang'].get('en', 0):,} English, "
        f"{meta['corpus_by_lang'].get('ru', 0):,} Russian) written and double-annotated for this project; see",
        "`training/corpus/README.md`. The two seed documents are kept out of training: they are the project's",
        "real-text test. The real evaluation set (`../shared/eval/real_dev.jsonl`, 552 paragraphs from public",
        "datasets) is used only here, to evaluate.",
        "",
        "## Metrics",
        "",
        f"### Grouped cross-validation on the corpus (in-domain): macro-F1 {cv['macro_f1']:.3f}",
        "",
        *label_table(cv),
        "",
    ]
    for name, rep in reports.items():
        title = {"seeds": "Seed documents (`seeds/labels.jsonl`, English, real text)",
                 "real_dev": "Real text (`../shared/eval/real_dev.jsonl`)"}[name]
        out += [f"### {title}", "",
                f"`framing evaluate --data {'seeds/labels.jsonl' if name == 'seeds' else '../shared/eval/real_dev.jsonl'}`"
                " (bootstrap 95% intervals, 1,000 resamples)", ""]
        out += ["| | n | model macro-F1 | keyword baseline | always none |", "|---|---|---|---|---|"]
        sections = [("all", rep, rep["baselines"]["keyword"], rep["baselines"]["always_none"])]
        for lang in rep["by_lang"]:
            sections.append((lang, rep["by_lang"][lang], rep["baselines"]["keyword"]["by_lang"][lang],
                             rep["baselines"]["always_none"]["by_lang"][lang]))
        for lang, m, k, z in sections:
            out.append(f"| {lang} | {m['n']} | {m['macro_f1']:.3f} {ci(m['macro_f1_ci'])} | "
                       f"{k['macro_f1']:.3f} {ci(k['macro_f1_ci'])} | {z['macro_f1']:.3f} |")
        out.append("")
        for lang in rep["by_lang"]:
            out += [f"{lang}:", "", *label_table(rep["by_lang"][lang]), ""]
    out += ["### Against the targets", "", "| set | target macro-F1 | measured | gap |", "|---|---|---|---|"]
    measured = {"seeds": reports["seeds"]["macro_f1"]}
    if "real_dev" in reports:
        measured["real_dev en"] = reports["real_dev"]["by_lang"]["en"]["macro_f1"]
        measured["real_dev ru"] = reports["real_dev"]["by_lang"]["ru"]["macro_f1"]
    for key, target in TARGETS.items():
        if key in measured:
            out.append(f"| {key} | {target:.2f} | {measured[key]:.3f} | {measured[key] - target:+.3f} |")
    comparisons = []
    for name, rep in reports.items():
        parts = [("all", rep, rep["baselines"]["keyword"])] if name == "seeds" else [
            (lang, rep["by_lang"][lang], rep["baselines"]["keyword"]["by_lang"][lang]) for lang in rep["by_lang"]]
        for lang, m, k in parts:
            verdict = ("above" if m["macro_f1_ci"][0] > k["macro_f1"] else "below" if m["macro_f1_ci"][1] < k["macro_f1"]
                       else "not clearly different from")
            comparisons.append(f"{name} {lang}: model {m['macro_f1']:.2f} vs keyword {k['macro_f1']:.2f} ({verdict} the baseline)")
    out += ["", "Against the keyword lexicon: " + "; ".join(comparisons) + ". The seed documents repeat the",
            "literal phrases the lexicon lists (\"technological sovereignty\", \"sanctions\"), which is where it shines."]
    out += [
        "",
        f"The targets are missed. In-domain the model is strong ({cv['macro_f1']:.2f}), on real text it is not: the corpus is",
        "synthetic and clean (two annotators agreed on 99.8% of paragraphs, against 96% on the real set), so",
        "cues are more explicit than in real writing. Real paragraphs that carry a framing score lower, which",
        "costs recall at thresholds set in-domain, and history- or identity-laden text without the framing",
        "draws false `ontological_security` tags in English. Widening the corpus five times with more realistic,",
        "boundary-hugging text (rounds 2 to 6) did not close the gap; round 5, aimed at exactly these weak points",
        "(archive-style wire copy, Russian business press, identity-laden English negatives), left the real-text",
        "figures where they were, within their intervals. Round 6 added the shapes running prose leaves out",
        "(headlines, captions, bullet lines, non-prose lines, 150-450-word transcript answers, analysis of the",
        "framings); it moved Russian real text from 0.584 to 0.612, English from 0.640 to 0.643 and the seeds",
        "from 0.690 to 0.716, all within the intervals. Training on joined pairs as well (chosen by the corpus",
        "cross-validation above) then gave English 0.667, Russian 0.584 and seeds 0.715: again within the",
        "intervals, English up and Russian down. Diluted paragraphs (a framing stated once in a long passage,",
        "the miss the seed articles showed; chosen on the corpus test of held-out diluted paragraphs, 0.809 ->",
        "0.833) then gave English 0.661, Russian 0.616 and seeds 0.736, within the intervals once more.",
        "Round 7 (960 units, a framing stated in one clause of a long paragraph, double-annotated) lowered the",
        "seeds to 0.678 when trained on and is kept out of the corpus; thresholds chosen on it instead (held-out",
        "text of our own, a rule fixed beforehand: adopt if the seeds do not drop) gave seeds 0.695, so they were",
        "not adopted either (real text with them: English 0.667, Russian 0.622).",
        *ranking_limit(reports),
        "What would help: real, licensed text",
        "annotated with the codebook, used for training (a separate set from the evaluation data).",
        "",
        "## Limits",
        "- English and Russian only; other languages get scores, but nothing here says they mean anything.",
        "- Paragraph-level: a framing spread over several paragraphs, irony, or quotation of a view in order to",
        "  reject it are not modelled (the codebook counts discussion of a framing as its use).",
        "- Bag of n-grams: it keys on words; a paragraph can be tagged for vocabulary it shares with framed",
        "  text. Evidence words show this; read them.",
        "- Scores are calibrated on the corpus; on real text probabilities are too confident at the extremes.",
        "",
        "## Ethical notes",
        "- Framing analysis concerns how a text presents events, not whether it is accurate. Do not publish a",
        "  tag, or a count of tags, as evidence that an outlet lies or spreads disinformation.",
        "- The corpus includes invented quotes in the voices of real public figures, written for training only.",
        "- Aggregates can be skewed by what an archive contains; report counts with the model's error rates",
        "  and, for claims, with human-checked samples.",
        "",
        "Reproduce: `framing train` (deterministic: same corpus and seed give the same metrics), then",
        "`python -m training.model_card`.",
    ]
    (ROOT / "models" / "MODEL_CARD.md").write_text("\n".join(out) + "\n")
    print("wrote models/MODEL_CARD.md and models/evaluation.json")


if __name__ == "__main__":
    main()
