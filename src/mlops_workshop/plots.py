"""The notebooks' plots: each function draws one figure from workshop data and returns it."""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt

SEX_COLOURS = {"F": "tab:red", "I": "tab:green", "M": "tab:blue"}


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
    """Training loss and validation RMSE per epoch, with the epoch whose weights were kept."""
    history = metadata.get("history") or {}
    if not history.get("val_rmse"):
        raise ValueError("the model's metadata.json has no training history (a model trained before it was recorded)")
    epochs = range(1, len(history["val_rmse"]) + 1)
    fig, left = plt.subplots(figsize=(8, 3.8))
    left.plot(epochs, [math.sqrt(v) if v > 0 else v for v in history["loss"]], color="tab:gray",
              label="training: √loss (with L2)")
    left.plot(epochs, history["val_rmse"], color="tab:blue", label="validation RMSE")
    best = metadata.get("best_epoch")
    if best:
        left.axvline(best, color="tab:green", linestyle=":",
                     label=f"kept: epoch {best}, RMSE {history['val_rmse'][best - 1]:.3f}")
    left.set(title="learning curve (early stopping keeps the best epoch)", xlabel="epoch", ylabel="rings")
    left.legend()
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
    left.set(title=f"{title}: predicted against true (RMSE {rmse:.3f})", xlabel="true rings", ylabel="predicted rings")
    left.legend()
    right.hist(errors, bins=40, color="tab:gray")
    right.axvline(0, color="tab:red", linestyle="--")
    right.set(title=f"errors over {len(errors):,} rows", xlabel="predicted − true (rings)", ylabel="rows")
    fig.tight_layout()
    return fig


def pipeline_timeline(run) -> Any:
    """A pipeline execution's stages one after another, coloured by outcome (a `pipeline.PipelineRun`)."""
    colours = {"Succeeded": "tab:green", "Failed": "tab:red", "InProgress": "tab:orange", "Stopped": "tab:gray"}
    stages = list(run.stages.values())
    fig, axis = plt.subplots(figsize=(10, 0.45 * len(stages) + 1.2))
    start = 0.0
    for row, stage in enumerate(stages):
        seconds = stage.seconds or 0.0
        axis.barh(row, seconds, left=start, color=colours.get(stage.status, "tab:gray"))
        axis.text(start + seconds + 0.5, row, f"{seconds:.1f} s {stage.status}", va="center", fontsize=8)
        start += seconds
    axis.set_yticks(range(len(stages)), [s.name for s in stages])
    axis.invert_yaxis()
    axis.set(title=f"execution {run.execution_id[:8]}…: {run.status} in {run.seconds:.0f} s",
             xlabel="seconds (stages back to back)")
    axis.set_xlim(0, max(start * 1.25, 1))
    fig.tight_layout()
    return fig


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


def state_machine(definition: dict) -> Any:
    """An Amazon States Language definition as boxes and arrows: the main path down, the exits to the right."""
    states = definition["States"]
    edges: list[tuple[str, str, str]] = []
    for name, state in states.items():
        if state.get("Next"):
            edges.append((name, state["Next"], ""))
        for choice in state.get("Choices", []):
            edges.append((name, choice["Next"], _choice_label(choice)))
        if state.get("Default"):
            edges.append((name, state["Default"], "otherwise"))
        for catch in state.get("Catch", []):
            edges.append((name, catch["Next"], "on error"))
    main, current = [], definition["StartAt"]
    while current and current not in main:
        main.append(current)
        state = states[current]
        current = state.get("Next") or next((c["Next"] for c in state.get("Choices", [])), None)
    place = {name: (0.0, -float(row)) for row, name in enumerate(main)}
    taken = set()
    for name in states:
        if name in place:
            continue
        rows = [place[source][1] for source, target, _ in edges if target == name and source in place]
        row = min(rows) if rows else -float(len(main))
        while row in taken:
            row -= 1
        taken.add(row)
        place[name] = (2.2, row)
    colours = {"Task": "#dbe9f6", "Choice": "#fdf1c7", "Succeed": "#d5f0d5", "Fail": "#f6d5d5"}
    fig, axis = plt.subplots(figsize=(10, 0.9 * len(main) + 1))
    for name, (x, y) in place.items():
        kind = states[name]["Type"]
        axis.text(x, y, f"{name}\n({kind})", ha="center", va="center", fontsize=9,
                  bbox={"boxstyle": "round,pad=0.4", "facecolor": colours.get(kind, "white"), "edgecolor": "gray"})
    drawn = set()
    for source, target, label in edges:
        if (source, target) in drawn:
            continue
        drawn.add((source, target))
        (x0, y0), (x1, y1) = place[source], place[target]
        bend = 0.0 if x0 == x1 else 0.15
        axis.annotate("", xy=(x1 - (0.55 if x1 > x0 else 0), y1 + (0.22 if x0 == x1 else 0)),
                      xytext=(x0 + (0.55 if x1 > x0 else 0), y0 - (0.22 if x0 == x1 else 0)),
                      arrowprops={"arrowstyle": "->", "color": "tab:red" if label == "on error" else "gray",
                                  "connectionstyle": f"arc3,rad={bend}"})
        if label and label != "on error":
            beside = x0 == x1  # on a downward arrow the label sits to its right
            axis.text((x0 + x1) / 2 + (0.08 if beside else 0), (y0 + y1) / 2 + (0 if beside else 0.12), label,
                      fontsize=7, ha="left" if beside else "center", va="center", color="dimgray")
    axis.text(2.2, 0.6, "red: any step's error (Catch)", ha="center", fontsize=7, color="tab:red")
    axis.set_xlim(-1.2, 3.4)
    axis.set_ylim(min(y for _, y in place.values()) - 0.7, 1.0)
    axis.axis("off")
    axis.set_title(definition.get("Comment", "state machine"), fontsize=9)
    fig.tight_layout()
    return fig
