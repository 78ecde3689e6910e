"""The model's figures: its quality, its training time, and serving.

quality   test RMSE of the model recipe (container/trainingjob.json's hyperparameters) for several training
          seeds on a fixed 20% hold-out of the raw data, beside predicting the mean and linear regression,
          and the same on other random hold-outs; the rest is encoded and split as the ETL job does it
cv        how the recipe was chosen: 4-fold cross-validation on the 80% the fixed hold-out leaves (it never
          sees the hold-out), mean RMSE over folds and seeds; `--set name=value` tries other hyperparameters
training  wall time of one `container/train` run through the SageMaker contract
serving   single-row throughput of the model server against a bare Flask endpoint returning a constant,
          behind the same nginx and gunicorn, in the same run; latencies, a 1,000-row request, and against
          their targets: the time until /ping is healthy, worker memory, and how far the server's predictions
          are from the Keras model's

The load generator is `wrk` when it is installed (Debian: apt-get install wrk), else Python processes with
keep-alive connections; either is bounded in time. Figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mlops_workshop import REPO_ROOT
from mlops_workshop.modelserver import CONTAINER_DIR, ModelServer, memory_kib

ETL_SCRIPT = REPO_ROOT / "etl" / "preprocess.py"

HOLDOUT_FRACTION = 0.2
HOLDOUT_SEED = 42
OTHER_HOLDOUT_SEEDS = (0, 1)
TRAINING_SEEDS = (1, 2, 3)
# The ETL job's proportions (70% train, 15% validate) applied to what the hold-out leaves.
VALIDATE_SHARE = 0.15 / 0.85
SPLIT_SEED = 42

CV_FOLDS = 4

TARGET_RMSE = 2.10
TARGET_TRAINING_SECONDS = 20.0
TARGET_THROUGHPUT_RATIO = 0.70
TARGET_HEALTHY_SECONDS = 1.5
TARGET_WORKER_MB = 50
TARGET_PREDICTION_DIFFERENCE = 1e-4  # rings

SINGLE_ROW = "0,0,1,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"


def load_container_module(stem: str):
    """A module of container/ (training, contract), which runs standalone in the image, imported here under a
    name of its own; the modules it imports (predictor, contract) come from container/ by their plain names."""
    name = f"mlops_container_{stem}"
    if name not in sys.modules:
        if str(CONTAINER_DIR) not in sys.path:
            sys.path.append(str(CONTAINER_DIR))
        spec = importlib.util.spec_from_file_location(name, CONTAINER_DIR / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_model_module():
    """container/training.py: hyperparameters, fit() and the Keras model's loader."""
    return load_container_module("training")


def job_hyperparameters() -> dict:
    return json.loads((CONTAINER_DIR / "trainingjob.json").read_text())["HyperParameters"]


def load_etl_job():
    """etl/preprocess.py, the Glue job's script, imported for its own encoding and split."""
    name = "mlops_etl_preprocess"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ETL_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def encoded(raw) -> tuple[np.ndarray, np.ndarray]:
    """The raw rows as the ETL job encodes them: the features (one-hot sex, then the sizes) and the rings."""
    etl = load_etl_job()
    frame = etl.encode(raw)
    return frame[etl.FEATURES].to_numpy(dtype=np.float32), frame[etl.LABEL].to_numpy(dtype=np.float32)


def etl_split(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows cut into (train, validate) as the ETL job cuts its splits, in its proportions."""
    train, validate, _ = load_etl_job().split_positions(len(rows), SPLIT_SEED, round(len(rows) * VALIDATE_SHARE), 0)
    return rows[train], rows[validate]


def split(x, y, holdout_seed: int) -> dict:
    """A 20% hold-out (scikit-learn's train_test_split with this seed), the rest split as the ETL job does."""
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(np.arange(len(y)), test_size=HOLDOUT_FRACTION, random_state=holdout_seed)
    train, validate = etl_split(rest)
    return {name: (x[rows], y[rows]) for name, rows in (("train", train), ("validate", validate), ("test", test))}


def load_data():
    from mlops_workshop.data import load_raw

    return encoded(load_raw())


def rmse(y_true, y_pred) -> float:
    error = np.asarray(y_pred, dtype=np.float64).reshape(-1) - np.asarray(y_true, dtype=np.float64).reshape(-1)
    return float(np.sqrt(np.mean(error**2)))


def machine_line() -> str:
    load = os.getloadavg()
    cpus = os.cpu_count() or 1
    busy = "  (busy: other work shares the CPUs, figures are pessimistic)" if load[0] > cpus * 0.75 else ""
    return f"machine: {cpus} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}{busy}"




def cv_folds(rows: int, folds: int = CV_FOLDS) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(train, validate, test) row numbers of each fold, all outside the fixed hold-out."""
    from sklearn.model_selection import KFold, train_test_split

    rest, _ = train_test_split(np.arange(rows), test_size=HOLDOUT_FRACTION, random_state=HOLDOUT_SEED)
    plan = []
    for inner, outer in KFold(folds, shuffle=True, random_state=0).split(rest):
        train, validate = etl_split(rest[inner])
        plan.append((train, validate, rest[outer]))
    return plan


def crossvalidate(overrides: dict | None = None, seeds=TRAINING_SEEDS, folds: int = CV_FOLDS) -> dict:
    """Mean test RMSE over k folds x seeds of the rows the fixed hold-out leaves, for trainingjob.json's
    hyperparameters with `overrides`; each fold's other rows are split as the ETL job splits them."""
    model = load_model_module()
    x, y = load_data()
    hyperparameters = {**job_hyperparameters(), **(overrides or {})}
    model.parse_hyperparameters(hyperparameters)  # a bad --set fails here, before any training
    plan = cv_folds(len(y), folds)
    print(f"cv: {folds}-fold cross-validation on the {sum(len(t) for _, _, t in plan)} rows the fixed hold-out "
          f"leaves; recipe {json.dumps(hyperparameters)}")
    per_fold = []
    for fold, (train, validate, test) in enumerate(plan, start=1):
        scores = []
        for seed in seeds:
            hp = model.parse_hyperparameters({**hyperparameters, "seed": str(seed)})
            fitted = model.fit(hp, x[train], y[train], x[validate], y[validate])
            scores.append(rmse(y[test], np.asarray(fitted.model(x[test], training=False))))
        per_fold.append(scores)
        shown = ", ".join(f"seed {seed}: {value:.3f}" for seed, value in zip(seeds, scores))
        print(f"  fold {fold}/{folds} ({len(test)} rows): {shown}", flush=True)
    mean = float(np.mean(per_fold))
    print(f"  cross-validated RMSE: {mean:.4f} (mean of {folds} folds x {len(seeds)} seeds)")
    return {"hyperparameters": hyperparameters, "folds": per_fold, "rmse": mean}


def quality(seeds=TRAINING_SEEDS, other_holdouts=OTHER_HOLDOUT_SEEDS) -> dict:
    from sklearn.linear_model import LinearRegression

    model = load_model_module()
    x, y = load_data()
    hyperparameters = job_hyperparameters()
    print(f"quality: test RMSE in rings on 20% hold-outs; recipe {json.dumps(hyperparameters)}")
    results = {}
    for holdout in (HOLDOUT_SEED, *other_holdouts):
        parts = split(x, y, holdout)
        (x_train, y_train), (x_validate, y_validate), (x_test, y_test) = parts["train"], parts["validate"], parts["test"]
        fit_x, fit_y = np.concatenate([x_train, x_validate]), np.concatenate([y_train, y_validate])
        baseline_mean = rmse(y_test, np.full_like(y_test, fit_y.mean()))
        baseline_linear = rmse(y_test, LinearRegression().fit(fit_x, fit_y).predict(x_test))
        runs = []
        for seed in seeds:
            hp = model.parse_hyperparameters({**hyperparameters, "seed": str(seed)})
            fitted = model.fit(hp, x_train, y_train, x_validate, y_validate)
            predictions = np.asarray(fitted.model(x_test, training=False)).reshape(-1)
            runs.append({
                "seed": seed, "test_rmse": rmse(y_test, predictions),
                "validate_rmse": rmse(y_validate, np.asarray(fitted.model(x_validate, training=False))),
                "epochs": fitted.epochs_run, "seconds": fitted.seconds, "history": fitted.history["val_rmse"],
            })
        median = statistics.median(run["test_rmse"] for run in runs)
        label = "fixed hold-out" if holdout == HOLDOUT_SEED else "other hold-out"
        per_seed = ", ".join(f"seed {run['seed']}: {run['test_rmse']:.3f}" for run in runs)
        print(f"  {label} (split seed {holdout}, {len(y_test)} rows): model median {median:.3f} ({per_seed}); "
              f"mean {baseline_mean:.3f}, linear regression {baseline_linear:.3f}")
        results[holdout] = {"median": median, "runs": runs, "mean": baseline_mean, "linear": baseline_linear}
    fixed = results[HOLDOUT_SEED]
    print("  validate RMSE (the split early stopping watches): "
          + ", ".join(f"{run['validate_rmse']:.3f}" for run in fixed["runs"]))
    better = all(r["median"] < r["linear"] for r in results.values())
    print(f"  target: median test RMSE <= {TARGET_RMSE:.2f} on the fixed hold-out: {fixed['median']:.3f} "
          f"{'met' if fixed['median'] <= TARGET_RMSE else 'MISSED'}; "
          f"better than linear regression on every hold-out: {'yes' if better else 'NO'}")
    return {"holdouts": results, "met": fixed["median"] <= TARGET_RMSE}




def write_channel(root: Path, parts: dict, hyperparameters: dict) -> Path:
    channel = root / "input" / "data" / "training"
    channel.mkdir(parents=True, exist_ok=True)
    for name in ("train", "validate"):
        x, y = parts[name]
        rows = np.column_stack([y, x])
        lines = (",".join([str(int(row[0]))] + [format(v, "g") for v in row[1:]]) for row in rows)
        (channel / f"{name}.csv").write_text("\n".join(lines) + "\n")
    config = root / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return root


def training(root: Path) -> dict:
    """One `container/train` run on the fixed split with trainingjob.json's hyperparameters."""
    x, y = load_data()
    write_channel(root, split(x, y, HOLDOUT_SEED), job_hyperparameters())
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(CONTAINER_DIR / "train")], env=dict(os.environ, OPT_ML_ROOT=str(root)),
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"container/train failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    metadata = json.loads((root / "model" / "metadata.json").read_text())
    fit_seconds = metadata["training_seconds"]
    print(f"training: container/train took {wall:.1f} s in all ({fit_seconds:.1f} s fitting, "
          f"{metadata['training_cpu_seconds']:.1f} s CPU; the rest is starting Python and TensorFlow), "
          f"{metadata['epochs_run']} epochs (best {metadata['best_epoch']}), validate RMSE {metadata['validation']['rmse']:.3f}")
    print(f"  target: training <= {TARGET_TRAINING_SECONDS:.0f} s on 2 cores: "
          f"{'met' if wall <= TARGET_TRAINING_SECONDS else 'MISSED'} ({wall:.1f} s for the whole run)")
    return {"wall_seconds": wall, "fit_seconds": fit_seconds, "metadata": metadata, "met": wall <= TARGET_TRAINING_SECONDS}




WRK_SCRIPT = """wrk.method = "POST"
wrk.body = "{body}"
wrk.headers["Content-Type"] = "text/csv"
"""


def load_with_wrk(url: str, seconds: float, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=SINGLE_ROW))
    try:
        result = subprocess.run(
            ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:g}s", "--latency", "-s", script.name,
             url + "/invocations"],
            capture_output=True, text=True, timeout=seconds + 30,
        )
    finally:
        os.unlink(script.name)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr or result.stdout}")
    return parse_wrk(result.stdout)


def parse_wrk(output: str) -> dict:
    """Requests/s, p50 and p99 latency (ms), request and error counts from `wrk --latency` output."""
    figures = {"tool": "wrk", "errors": 0}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(words[1])
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            figures["p" + words[0].rstrip("%")] = _milliseconds(words[1])
        elif "Non-2xx" in line or line.strip().startswith("Socket errors"):
            figures["errors"] += sum(int(w.rstrip(",")) for w in words if w.rstrip(",").isdigit())
        elif "requests in" in line:
            figures["requests"] = int(words[0])
    return figures


def _milliseconds(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def _python_client(args):
    port, seconds, max_requests = args
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = SINGLE_ROW.encode()
    latencies, errors = [], 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(latencies) < max_requests:
        started = time.perf_counter()
        try:
            connection.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - started)
    connection.close()
    return latencies, errors


def load_with_python(port: int, seconds: float, connections: int, max_requests: int = 200_000) -> dict:
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(connections) as pool:
        results = pool.map(_python_client, [(port, seconds, max_requests // connections)] * connections)
    elapsed = time.perf_counter() - started
    latencies = sorted(latency for part, _ in results for latency in part)
    count = len(latencies)
    return {
        "tool": "python", "requests": count, "errors": sum(errors for _, errors in results),
        "rps": count / min(elapsed, seconds + 1), "p50": latencies[count // 2] * 1000,
        "p99": latencies[min(count - 1, int(count * 0.99))] * 1000,
    }


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def generate_load(server: ModelServer, seconds: float, connections: int) -> dict:
    """One load run; besides requests/s, the CPU time the server and the load generator spent per request,
    which other work on a shared machine disturbs far less than the rate."""
    import resource

    pids = server.pids()
    server_pids = [pids.get("nginx"), pids.get("gunicorn"), *pids["nginx_workers"], *pids["gunicorn_workers"]]
    server_pids = [pid for pid in server_pids if pid]
    server_before = cpu_seconds(server_pids)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_before = usage.ru_utime + usage.ru_stime
    if shutil.which("wrk"):
        figures = load_with_wrk(server.url, seconds, connections)
    else:
        figures = load_with_python(server.port, seconds, connections)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures["server_cpu"] = cpu_seconds(server_pids) - server_before
    figures["client_cpu"] = usage.ru_utime + usage.ru_stime - client_before
    requests = figures.get("requests") or figures["rps"] * seconds
    figures["cpu_us_per_request"] = (figures["server_cpu"] + figures["client_cpu"]) / requests * 1e6
    figures["server_cpu_us_per_request"] = figures["server_cpu"] / requests * 1e6
    return figures


def _post(port: int, body: str, accept="text/csv") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/invocations", body=body.encode(), headers={"Content-Type": "text/csv", "Accept": accept})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def serving(opt_ml: Path, seconds: float = 5.0, connections: int = 8, rounds: int = 2) -> dict:
    model = load_model_module()
    keras_model = model.load_keras_model(opt_ml / "model")
    x, y = load_data()
    x_test, _ = split(x, y, HOLDOUT_SEED)["test"]
    workers = os.cpu_count() or 1
    tool = "wrk" if shutil.which("wrk") else "Python processes (install wrk for lighter, steadier load)"
    print(f"serving: {workers} gunicorn workers, single-row text/csv requests, {connections} keep-alive connections, "
          f"{rounds} alternating rounds of {seconds:g} s each; load from {tool}")
    # One after the other, so that the time to healthy is the model server's alone.
    with ModelServer(opt_ml, workers=workers) as model_server, \
            ModelServer(opt_ml, workers=workers, wsgi_app="mlops_workshop.modelserver:constant_app()") as constant_server:
        healthy = model_server.seconds_to_healthy
        # Warm both up so that the first round does not pay for lazy imports and connection set-up.
        for srv in (constant_server, model_server):
            generate_load(srv, 1, connections)
        runs = {"constant": [], "model": []}
        for _ in range(rounds):
            runs["constant"].append(generate_load(constant_server, seconds, connections))
            runs["model"].append(generate_load(model_server, seconds, connections))
        best = {name: max(values, key=lambda run: run["rps"]) for name, values in runs.items()}

        body = "\n".join(",".join(repr(float(v)) for v in row) for row in x_test) + "\n"
        status, answer = _post(model_server.port, body)
        # The answers are the shortest text of each float32, which reads back as that float32 exactly.
        served = np.array([float(line) for line in answer.decode().split()], dtype=np.float32).astype(np.float64)
        expected = np.asarray(keras_model(x_test, training=False), dtype=np.float64).reshape(-1)
        if status == 200 and served.shape == expected.shape:
            largest_difference = float(np.max(np.abs(served - expected)))
        else:
            largest_difference = float("inf")
        equal = largest_difference <= TARGET_PREDICTION_DIFFERENCE

        thousand = "\n".join(",".join(repr(float(v)) for v in row) for row in np.resize(x_test, (1000, x_test.shape[1])))
        times = []
        for _ in range(20):
            started = time.perf_counter()
            status_1000, _ = _post(model_server.port, thousand)
            times.append(time.perf_counter() - started)
        pids = model_server.pids()
        worker_memory = [memory_kib(pid) for pid in pids["gunicorn_workers"]]
        constant_memory = [memory_kib(pid) for pid in constant_server.pids()["gunicorn_workers"]]

    ratio = best["model"]["rps"] / best["constant"]["rps"]
    cpu = {name: statistics.median(run["cpu_us_per_request"] for run in runs[name]) for name in runs}
    cpu_ratio = cpu["constant"] / cpu["model"]
    for name in ("constant", "model"):
        rounds_text = ", ".join(f"{run['rps']:.0f}" for run in runs[name])
        run = best[name]
        label = "bare Flask constant" if name == "constant" else "model"
        print(f"  {label:>19}: {run['rps']:7.0f} requests/s (rounds: {rounds_text}), p50 {run['p50']:.2f} ms, "
              f"p99 {run['p99']:.2f} ms, errors {sum(r['errors'] for r in runs[name])}; "
              f"{cpu[name]:.0f} us CPU per request (server and load generator)")
    print(f"  target: model throughput >= {TARGET_THROUGHPUT_RATIO:.0%} of the constant endpoint: {ratio:.0%} "
          f"{'met' if ratio >= TARGET_THROUGHPUT_RATIO else 'MISSED'} (best rounds); from CPU time per request "
          f"{cpu_ratio:.0%}, the figure other work on the machine disturbs least")
    print(f"  1,000-row request: median {statistics.median(times) * 1000:.1f} ms (status {status_1000})")
    healthy_met = healthy <= TARGET_HEALTHY_SECONDS
    print(f"  target: /ping healthy <= {TARGET_HEALTHY_SECONDS:g} s after `serve` started: {healthy:.2f} s "
          f"{_pass(healthy_met)} (the workers load the predictor train exported, without TensorFlow)")
    largest_rss = max((m.get("rss", math.inf) for m in worker_memory), default=math.inf) / 1024
    memory_met = largest_rss <= TARGET_WORKER_MB
    print(f"  target: worker memory <= {TARGET_WORKER_MB} MB each (RSS, the larger figure): "
          + ", ".join(f"RSS {m.get('rss', 0) / 1024:.0f} MB (PSS {m.get('pss', 0) / 1024:.0f} MB)" for m in worker_memory)
          + f" {_pass(memory_met)}; constant app " + ", ".join(f"RSS {m.get('rss', 0) / 1024:.0f} MB" for m in constant_memory))
    print(f"  target: served predictions within {TARGET_PREDICTION_DIFFERENCE:g} rings of the Keras model's on the "
          f"{len(x_test)} hold-out rows: largest difference {largest_difference:.2g} rings {_pass(equal)}")
    return {
        "runs": runs, "ratio": ratio, "cpu_ratio": cpu_ratio, "thousand_rows_ms": statistics.median(times) * 1000,
        "healthy_seconds": healthy, "healthy_met": healthy_met, "worker_memory_kib": worker_memory,
        "memory_met": memory_met, "largest_difference": largest_difference, "equal_to_keras": equal,
        "met": ratio >= TARGET_THROUGHPUT_RATIO and healthy_met and memory_met and equal,
    }


def _pass(met: bool) -> str:
    return "PASS" if met else "FAIL"




def plot(results: dict, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = [name for name in ("quality", "serving") if name in results]
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for axis, name in zip(axes[0], panels):
        if name == "quality":
            fixed = results["quality"]["holdouts"][HOLDOUT_SEED]
            for run in fixed["runs"]:
                axis.plot(range(1, len(run["history"]) + 1), run["history"], label=f"seed {run['seed']}")
            axis.axhline(fixed["linear"], color="grey", linestyle="--", label="linear regression (test)")
            axis.axhline(TARGET_RMSE, color="red", linestyle=":", label=f"target {TARGET_RMSE} (test)")
            axis.set(xlabel="epoch", ylabel="validate RMSE (rings)", title="training curves")
            axis.legend(fontsize=8)
        else:
            runs = results["serving"]["runs"]
            names = ["constant", "model"]
            axis.bar(names, [max(r["rps"] for r in runs[n]) for n in names], color=["grey", "tab:blue"])
            axis.set(ylabel="requests/s", title=f"single-row throughput ({results['serving']['ratio']:.0%})")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

