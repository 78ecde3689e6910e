"""The notebooks' pictures: each function draws one from workshop data and returns it.

Charts are matplotlib figures; diagrams (the architecture, the pipeline's stages, the system test's state
machine) are drawn by Graphviz from the templates and the state machine's definition, and show in a notebook as
PNG images (`Diagram`).
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt

SEX_COLOURS = {"F": "tab:red", "I": "tab:green", "M": "tab:blue"}
STATUS_COLOURS = {"Succeeded": "tab:green", "Failed": "tab:red", "InProgress": "tab:orange", "Stopped": "tab:gray",
                  "Abandoned": "tab:gray"}
DIAGRAM_DPI = "80"  # keeps the committed notebooks small; diagrams stay readable at GitHub's width


def dataset_overview(frame) -> Any:
    """The raw data: the label's distribution, a strong feature against it, and the sexes."""
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 3.8))
    left.hist(frame["rings"], bins=range(int(frame["rings"].min()), int(frame["rings"].max()) + 2), color="tab:gray")
    left.set(title=f"rings ({len(frame):,} abalone)", xlabel="rings (age ≈ rings + 1.5 years)", ylabel="abalone")
    for sex, rows in frame.groupby("sex"):
        middle.scatter(rows["shell_weight"], rows["rings"], s=6, alpha=0.4, color=SEX_COLOURS.get(sex), label=sex)
    middle.set(title="shell weight against rings", xlabel="shell weight (g / 200)", ylabel="rings")
    middle.legend(title="sex", markerscale=3)
    counts = frame["sex"].value_counts().reindex(list(SEX_COLOURS)).fillna(0)
    right.bar(counts.index, counts.values, color=[SEX_COLOURS[s] for s in counts.index])
    right.set(title="sex (I: infant)", ylabel="abalone")
    fig.tight_layout()
    return fig


def learning_curve(metadata: dict) -> Any:
    """Per epoch, what training minimises (left) and what early stopping watches (right), with the kept epoch."""
    history = metadata.get("history") or {}
    if not history.get("val_rmse"):
        raise ValueError("the model's metadata.json has no training history (a model trained before it was recorded)")
    epochs = range(1, len(history["val_rmse"]) + 1)
    best = metadata.get("best_epoch")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
    left.plot(epochs, history["loss"], color="tab:gray", label="training loss")
    left.set(title="training loss: the members' mean squared error + L2 penalty", xlabel="epoch",
             ylabel="loss (rings², with the penalty)")
    right.plot(epochs, history["val_rmse"], color="tab:blue", label="validation RMSE of the ensemble")
    training = (metadata.get("training") or {}).get("rmse")
    if training is not None:
        right.axhline(training, color="tab:gray", linestyle="--",
                      label=f"training RMSE of the kept model: {training:.2f}")
    if best:
        for axis in (left, right):
            axis.axvline(best, color="tab:green", linestyle=":")
        right.plot([best], [history["val_rmse"][best - 1]], "o", color="tab:green",
                   label=f"kept: epoch {best}, RMSE {history['val_rmse'][best - 1]:.2f}")
    right.set(title="validation RMSE (early stopping keeps the best epoch)", xlabel="epoch", ylabel="RMSE (rings)")
    left.legend()
    right.legend()
    fig.tight_layout()
    return fig


def predicted_vs_actual(labels, predictions, title: str = "test split") -> Any:
    """Predictions against the true rings, and the errors' distribution, with the RMSE."""
    errors = [p - y for p, y in zip(predictions, labels, strict=True)]
    rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.scatter(labels, predictions, s=8, alpha=0.4)
    low, high = min(min(labels), min(predictions)), max(max(labels), max(predictions))
    left.plot([low, high], [low, high], color="tab:red", linestyle="--", label="perfect")
    left.set(title=f"{title}: predicted against true (RMSE {rmse:.2f})", xlabel="true rings", ylabel="predicted rings")
    left.legend()
    right.hist(errors, bins=40, color="tab:gray")
    right.axvline(0, color="tab:red", linestyle="--")
    right.set(title=f"errors over {len(errors):,} rows", xlabel="predicted − true (rings)", ylabel="rows")
    fig.tight_layout()
    return fig


def _kll_buckets(statistics: dict, feature: str) -> list[dict]:
    for found in statistics.get("features") or []:
        if found["name"] == feature:
            distribution = (found.get("numerical_statistics") or {}).get("distribution") or {}
            return (distribution.get("kll") or {}).get("buckets") or []
    raise ValueError(f"the statistics have no feature {feature!r}")


def drift_distributions(baseline: dict, current: dict, features: list[str], title: str = "this hour") -> Any:
    """Each feature's distribution in two statistics.json files (their KLL buckets, as densities): the baseline's
    against the monitored hour's."""
    if not features:
        raise ValueError("no features to draw: the report found no drift")
    columns = min(len(features), 4)
    rows = math.ceil(len(features) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.2 * rows), squeeze=False)
    for axis in axes.flat[len(features):]:
        axis.set_visible(False)
    for axis, feature in zip(axes.flat, features):
        for statistics, label, colour in ((baseline, "baseline", "tab:gray"), (current, title, "tab:red")):
            buckets = _kll_buckets(statistics, feature)
            total = sum(b["count"] for b in buckets) or 1.0
            edges = [buckets[0]["lower_bound"]] + [b["upper_bound"] for b in buckets]
            # Densities, not shares: the two files' buckets have different widths.
            heights = [b["count"] / total / max(b["upper_bound"] - b["lower_bound"], 1e-12) for b in buckets]
            axis.stairs(heights, edges, fill=label == "baseline", alpha=0.5, color=colour, label=label, linewidth=2)
        axis.set(title=feature, xlabel=feature.replace("_", " "), ylabel="density")
    axes[0][0].legend(loc="upper right", fontsize=8)
    fig.suptitle("drifted features: the monitored requests against the baseline")
    fig.tight_layout()
    return fig


# What each stage's bar says on the timeline: the Lambda actions return once the job has started, and the approval
# after them lasts as long as the job, until its EventBridge event reaches the monitor.
TIMELINE_NOTES = {
    "ETL": "EtlLaunchJob starts the Glue run and returns",
    "ETLApproval": "waits for the Glue run's end: EventBridge → EtlJobMonitor approves",
    "Train": "TrainingLaunchJob starts the training job and returns",
    "TrainApproval": "waits for the training job's end: EventBridge → TrainingJobMonitor approves",
}


def pipeline_timeline(spans, status: str = "") -> Any:
    """An execution's actions at their real start and length (`workshop.action_spans`), one row per stage."""
    stages: list[str] = []
    for span in spans:
        if span.stage not in stages:
            stages.append(span.stage)
    end = max((s.start + s.seconds for s in spans), default=1.0)
    fig, axis = plt.subplots(figsize=(11, 0.45 * len(stages) + 1.4))
    for span in spans:
        row = stages.index(span.stage)
        axis.barh(row, max(span.seconds, end / 400), left=span.start, color=STATUS_COLOURS.get(span.status, "tab:gray"),
                  edgecolor="white")
    for row, stage in enumerate(stages):
        ours = [s for s in spans if s.stage == stage]
        stop = max(s.start + s.seconds for s in ours)
        seconds = stop - min(s.start for s in ours)
        note = TIMELINE_NOTES.get(stage, ", ".join(s.action for s in ours))
        axis.text(stop + end / 100, row, f"{seconds:.1f} s  {note}", va="center", fontsize=8)
    axis.set_yticks(range(len(stages)), stages)
    axis.invert_yaxis()
    axis.set(title=f"pipeline execution{': ' + status if status else ''} in {end:.0f} s (each action at its start)",
             xlabel="seconds since the execution started")
    axis.set_xlim(0, end * 1.9)
    fig.tight_layout()
    return fig


# ---------- Diagrams (Graphviz) ----------


class Diagram:
    """A Graphviz graph that a notebook shows as a PNG image; its text is what it draws, in a line."""

    def __init__(self, graph, description: str):
        self.graph = graph
        self.description = description

    def _repr_png_(self) -> bytes:
        return self.graph.pipe(format="png")

    def __repr__(self) -> str:
        return self.description


def _digraph(name: str, direction: str = "TB"):
    import graphviz

    graph = graphviz.Digraph(name)
    graph.attr(rankdir=direction, dpi=DIAGRAM_DPI, fontname="DejaVu Sans", fontsize="11")
    graph.attr("node", fontname="DejaVu Sans", fontsize="10", shape="box", style="rounded,filled",
               fillcolor="white")
    graph.attr("edge", fontname="DejaVu Sans", fontsize="9", color="gray30")
    return graph


COMPARISONS = {"LessThanEquals": "<=", "LessThan": "<", "GreaterThanEquals": ">=", "GreaterThan": ">",
               "Equals": "=="}


def _choice_label(choice: dict) -> str:
    """`$.Evaluation.rmse <= $.Threshold` for a Choice rule such as NumericLessThanEqualsPath."""
    for key, value in choice.items():
        if key in ("Variable", "Next"):
            continue
        operator = next((sign for name, sign in COMPARISONS.items() if key.removesuffix("Path").endswith(name)), key)
        return f"{choice.get('Variable', '')} {operator} {value}"
    return ""


STATE_STYLES = {"Task": {"fillcolor": "#dbe9f6"}, "Choice": {"shape": "diamond", "style": "filled",
                                                              "fillcolor": "#fdf1c7"},
                "Succeed": {"shape": "oval", "fillcolor": "#d5f0d5"}, "Fail": {"shape": "oval", "fillcolor": "#f6d5d5"}}


def state_transitions(definition: dict) -> list[tuple[str, str, str]]:
    """Every (from, to, label) of an Amazon States Language definition: Next, the Choice rules, Default, Catch."""
    edges = []
    for name, state in definition["States"].items():
        if state.get("Next"):
            edges.append((name, state["Next"], ""))
        for choice in state.get("Choices", []):
            edges.append((name, choice["Next"], _choice_label(choice)))
        if state.get("Default"):
            edges.append((name, state["Default"], "otherwise"))
        for catch in state.get("Catch", []):
            edges.append((name, catch["Next"], "on error"))
    return edges


def state_machine(definition: dict) -> Diagram:
    """A state machine drawn from its definition: each state with its type (and the function of a Task), each
    transition with its rule; the Catch transitions red and dashed."""
    graph = _digraph("state_machine")
    graph.attr(label=definition.get("Comment", ""), labelloc="t")
    graph.node("start", "start", shape="point", width="0.15")
    for name, state in definition["States"].items():
        function = (state.get("Parameters") or {}).get("FunctionName", "")
        detail = f"\n{function.rsplit(':', 1)[-1]}" if function else ""
        graph.node(name, f"{name}\n({state['Type']}){detail}", **STATE_STYLES.get(state["Type"], {}))
    graph.edge("start", definition["StartAt"])
    edges = state_transitions(definition)
    for source, target, label in dict.fromkeys(edges):
        style = {"color": "red", "style": "dashed", "fontcolor": "red"} if label == "on error" else {}
        graph.edge(source, target, label=label, **style)
    return Diagram(graph, f"state machine: {len(definition['States'])} states, {len(set(edges))} transitions, "
                          f"starting at {definition['StartAt']}")


PROVIDER_COLOURS = {"Source": "#eeeeee", "Build": "#dbe9f6", "Invoke": "#fdf1c7", "Approval": "#f6d5d5",
                    "Deploy": "#d5f0d5"}


def pipeline_stages(actions) -> Diagram:
    """The CodePipeline's stages (`workshop.stage_actions()`): one box per stage, its actions inside with their
    providers, the stages in the order they run."""
    graph = _digraph("pipeline", "LR")
    graph.attr(compound="true", nodesep="0.15", ranksep="0.35")
    stages = list(dict.fromkeys(actions["stage"]))
    firsts, lasts = {}, {}
    for number, stage in enumerate(stages, start=1):
        with graph.subgraph(name=f"cluster_{stage}") as cluster:
            cluster.attr(label=f"{number}. {stage}", style="rounded", color="gray50")
            rows = actions[actions["stage"] == stage]
            previous = None
            for _, row in rows.iterrows():
                node = f"{stage}.{row['action']}"
                category, provider = (part.strip() for part in row["provider"].split("/"))
                cluster.node(node, f"{row['action']}\n{provider}", fillcolor=PROVIDER_COLOURS.get(category, "white"))
                firsts.setdefault(stage, node)
                if previous and stage != "Source":
                    cluster.edge(previous, node)  # run order inside the stage
                previous = node
            lasts[stage] = previous
    for before, after in zip(stages, stages[1:]):
        graph.edge(lasts[before], firsts[after], ltail=f"cluster_{before}", lhead=f"cluster_{after}")
    return Diagram(graph, f"pipeline: {len(stages)} stages, {len(actions)} actions: " + " → ".join(stages))


def architecture(actions, names) -> Diagram:
    """The whole pipeline on AWS: the CodePipeline's stages from the template (blue, top to bottom), where its data
    and code live (grey), and what each stage starts (yellow), with the notebook that makes or shows each part."""
    graph = _digraph("architecture", "TB")
    graph.attr(nodesep="0.35", ranksep="0.3", label="blue: the pipeline stack's CodePipeline (notebooks 5–6); grey: "
               "the repositories (notebooks 1–2); yellow: what the stages start", labelloc="b")
    stages = list(dict.fromkeys(actions["stage"]))
    for stage in stages:
        providers = ", ".join(dict.fromkeys(p.split("/")[1].strip()
                                            for p in actions.loc[actions["stage"] == stage, "provider"]))
        graph.node(stage, f"{stage}\n{providers}", fillcolor="#dbe9f6")
    for before, after in zip(stages, stages[1:]):
        graph.edge(before, after, weight="10")
    grey, yellow = {"fillcolor": "#eeeeee"}, {"fillcolor": "#fdf1c7"}
    beside = {  # node: (label, the stage it sits beside, style)
        "data": ("S3 data bucket\nraw abalone.csv", "Source", {"shape": "cylinder", **grey}),
        "code": (f"CodeCommit {names.code_repo_name} (or zips in S3)\nbranches main, etl, test", "Source",
                 {"shape": "folder", **grey}),
        "ecr": (f"ECR {names.image_repo_name}\nthe training and serving image", "Build", {"shape": "cylinder", **grey}),
        "glue": ("Glue job\netl/preprocess.py", "ETL", yellow),
        "artifacts": ("S3 artifact bucket\nsplits, models, reports", "ETLApproval", {"shape": "cylinder", **grey}),
        "etl_event": ("EventBridge rule →\nEtlJobMonitor Lambda", "ETLApproval", yellow),
        "training": ("SageMaker training job\ncontainer/train (notebook 3)", "Train", yellow),
        "train_event": ("EventBridge rule →\nTrainingJobMonitor Lambda", "TrainApproval", yellow),
        "registry": ("SageMaker model registry\nmodel package group", "TrainApproval", yellow),
        "dev": ("SageMaker endpoint abalone-dev\ncontainer/serve", "DeployDev", yellow),
        "sfn": ("Step Functions state machine\nthe system test (notebook 4)", "SystemTest", yellow),
        "prd": ("SageMaker endpoint abalone-prd\nauto scaling", "DeployPrd", yellow),
    }
    for node, (label, stage, style) in beside.items():
        if stage in stages:
            graph.node(node, label, **style)
            with graph.subgraph() as rank:
                rank.attr(rank="same")
                rank.node(stage)
                rank.node(node)
    edges = [("data", "Source", "a new version starts it", {}), ("code", "Source", "a new commit", {}),
             ("Build", "ecr", "pushes", {}), ("ETL", "glue", "starts", {}), ("glue", "artifacts", "splits", {}),
             ("glue", "etl_event", "job state", {"style": "dotted"}),
             ("etl_event", "ETLApproval", "approves", {"style": "dotted"}),
             ("Train", "training", "starts", {}), ("artifacts", "training", "", {}),
             ("training", "train_event", "job state", {"style": "dotted"}),
             ("train_event", "TrainApproval", "approves", {"style": "dotted"}),
             ("train_event", "registry", "registers", {"style": "dotted"}),
             ("DeployDev", "dev", "deploys", {}), ("SystemTest", "sfn", "runs", {}),
             ("sfn", "dev", "tests", {"style": "dotted"}), ("sfn", "registry", "approves", {"style": "dotted"}),
             ("DeployPrd", "prd", "deploys the approved model", {})]
    for source, target, label, style in edges:
        graph.edge(source, target, label=label, **style)
    return Diagram(graph, f"architecture: {len(stages)} stages, {len(beside)} parts around them")
