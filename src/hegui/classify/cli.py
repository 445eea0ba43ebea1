"""``hegui classifier train|eval|predict``: wiring only; the work is in hegui.classify."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

classifier_app = typer.Typer(
    help="Train, evaluate and try the built-in text classifier.", no_args_is_help=True
)

_DATA_HELP = "Labelled CSV/JSONL file; repeatable. Per-file options: FILE::hash_split=train,text_col=x"


def register(app: typer.Typer) -> None:
    app.add_typer(classifier_app, name="classifier")


def _spec(text_col: str | None, label_col: str | None, risk_col: str | None, topic_col: str | None,
          topic_map: list[str] | None, risk: str | None) -> Any:  # fmt: skip
    from hegui.classify.data import DatasetSpec, parse_topic_map

    return DatasetSpec(
        text_col=text_col,
        label_col=label_col,
        risk_col=risk_col,
        topic_col=topic_col,
        topic_map=parse_topic_map(topic_map or []),
        default_risk=risk,
    )


def _load(args: list[str], base: Any) -> list[Any]:
    from hegui.classify.data import load_examples, parse_data_arg

    out: list[Any] = []
    for a in args:
        path, spec = parse_data_arg(a, base)
        out.extend(load_examples(path, spec))
    return out


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


TextCol = Annotated[
    str | None, typer.Option(help="Column with the text (default: guessed: TEXT, comment_text, text, ...).")
]
LabelCol = Annotated[str | None, typer.Option(help="Column with 0/1 (or a risk code).")]
RiskCol = Annotated[str | None, typer.Option(help="Column with the risk code(s) of positive rows.")]
TopicCol = Annotated[str | None, typer.Option(help="Column whose value maps to a risk via --topic-map.")]
TopicMap = Annotated[
    list[str] | None, typer.Option(help="TOPIC=CODE, repeatable (COLD's race/region/gender are built in).")
]
RiskOpt = Annotated[
    str | None, typer.Option("--risk", help="Risk code of every positive row when nothing else says.")
]


@classifier_app.command("train")
def train_cmd(
    data: Annotated[list[str], typer.Option("--data", help=_DATA_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Model file to write (.npz).")],
    dev: Annotated[
        list[str] | None, typer.Option("--dev", help="Dev file(s) to tune per-risk thresholds on.")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="softmax (one class per risk + none) or ovr (one sigmoid per risk).")
    ] = "softmax",
    c: Annotated[float, typer.Option("--C", help="Inverse L2 regularization strength.")] = 8.0,
    ngram_max: Annotated[int, typer.Option(help="Longest character n-gram.")] = 3,
    buckets_log2: Annotated[int, typer.Option(help="log2 of the number of hash buckets.")] = 20,
    no_normalize: Annotated[
        bool, typer.Option(help="Featurize raw text instead of hegui.text.normalize output.")
    ] = False,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    risk_col: RiskCol = None,
    topic_col: TopicCol = None,
    topic_map: TopicMap = None,
    risk: RiskOpt = None,
) -> None:
    """Train a model on labelled files and write it (numbers + JSON only, no pickle)."""
    from rich.console import Console

    from hegui.classify.data import DataError
    from hegui.classify.train import TrainConfig, TrainError, train

    if kind not in ("softmax", "ovr"):
        _fail(f"--kind must be softmax or ovr, not {kind!r}")
    if not 12 <= buckets_log2 <= 24 or not 1 <= ngram_max <= 6:
        _fail("--buckets-log2 must be 12..24 and --ngram-max 1..6")
    console = Console(stderr=True)
    try:
        base = _spec(text_col, label_col, risk_col, topic_col, topic_map, risk)
        examples = _load(data, base)
        dev_ex = _load(dev or [], base)
        cfg = TrainConfig(kind=kind, C=c, n_max=ngram_max, n_buckets=1 << buckets_log2,  # type: ignore[arg-type]
                          normalize_input=not no_normalize)  # fmt: skip
        with console.status("training") as status:
            model = train(examples, cfg, dev=dev_ex or None, progress=lambda m: status.update(m),
                          command="hegui " + shlex.join(sys.argv[1:]))  # fmt: skip
    except (DataError, TrainError) as exc:
        _fail(str(exc))
        return
    path = model.save(out)
    size_mb = path.stat().st_size / 1e6
    typer.echo(f"wrote {path} ({size_mb:.1f} MB), risks {', '.join(model.risks)}")
    typer.echo(f"thresholds: {json.dumps(model.thresholds)}")
    typer.echo(f"tuned-on metrics: {json.dumps(model.meta['metrics_tuned'])}")


@classifier_app.command("eval")
def eval_cmd(
    model: Annotated[str, typer.Option("--model", help="Model file or builtin:default.")],
    data: Annotated[list[str], typer.Option("--data", help=_DATA_HELP)],
    threshold: Annotated[
        float | None,
        typer.Option(help="Use this threshold for every risk instead of the model's tuned ones."),
    ] = None,
    bins: Annotated[int, typer.Option(help="Reliability bins.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    risk_col: RiskCol = None,
    topic_col: TopicCol = None,
    topic_map: TopicMap = None,
    risk: RiskOpt = None,
) -> None:
    """Precision/recall/F1 per class, binary accuracy/macro-F1, group-discussion FPR, calibration."""
    from rich.console import Console
    from rich.table import Table

    from hegui.classify.data import DataError
    from hegui.classify.detector import load_model
    from hegui.classify.evaluate import evaluate_probs
    from hegui.classify.model import ModelError

    if bins < 2:
        _fail("--bins must be >= 2")
    try:
        m = load_model(model)
        examples = _load(data, _spec(text_col, label_col, risk_col, topic_col, topic_map, risk))
    except (DataError, ModelError) as exc:
        _fail(str(exc))
        return
    unknown = sorted({r for e in examples for r in e.risks} - set(m.risks))
    th = {r: (threshold if threshold is not None else m.thresholds.get(r, 0.5)) for r in m.risks}
    probs = m.predict_proba([e.text for e in examples])
    rep = evaluate_probs(examples, m.risks, probs, th, bins=bins)
    if as_json:
        typer.echo(json.dumps(rep.to_dict(), ensure_ascii=False, indent=2))
        return
    con = Console()
    con.print(f"{len(examples)} examples; thresholds {json.dumps(rep.thresholds)}")
    t = Table(title="per class")
    for col in ("class", "precision", "recall", "F1", "support"):
        t.add_column(col, justify="right" if col != "class" else "left")
    for cm in rep.per_class:
        t.add_row(cm.name, f"{cm.precision:.4f}", f"{cm.recall:.4f}", f"{cm.f1:.4f}", str(cm.support))
    con.print(t)
    g = (
        "n/a"
        if rep.group_discussion_fpr is None
        else f"{rep.group_discussion_fpr:.4f} (n={rep.group_discussion_n})"
    )
    con.print(f"binary (any risk vs none): accuracy {rep.accuracy:.4f}, macro-F1 {rep.macro_f1:.4f}")
    con.print(f"false-positive rate on safe texts that discuss a group: {g}")
    if unknown:
        con.print(f"[yellow]risks in the data the model was not trained for: {', '.join(unknown)}[/]")
    c = Table(title=f"calibration (per risk probability), ECE {rep.ece:.4f}")
    for col in ("bin", "count", "mean predicted", "observed"):
        c.add_column(col, justify="right")
    for b in rep.calibration:
        c.add_row(f"{b.lo:.1f}-{b.hi:.1f}", str(b.count), f"{b.mean_predicted:.3f}", f"{b.observed:.3f}")
    con.print(c)


@classifier_app.command("predict")
def predict_cmd(
    text: Annotated[list[str], typer.Argument(help="Text(s) to score.")],
    model: Annotated[str, typer.Option("--model", help="Model file or builtin:default.")] = "builtin:default",
) -> None:
    """Print the calibrated probability per risk for each text (JSON lines)."""
    from hegui.classify.detector import load_model
    from hegui.classify.model import ModelError

    try:
        m = load_model(model)
    except ModelError as exc:
        _fail(str(exc))
        return
    for t in text:
        p = m.predict_proba_one(t)
        flagged = [r for r, v in p.items() if v >= m.thresholds.get(r, 0.5)]
        typer.echo(
            json.dumps(
                {"text": t, "probabilities": {k: round(v, 4) for k, v in p.items()}, "flagged": flagged},
                ensure_ascii=False,
            )
        )
