"""The benchmark's pieces: the fixed hold-out, the wrk output it reads, and one short serving run."""

import re

import numpy as np
import pytest

from mlops_workshop.benchmarks import model as benchmark

pytestmark = pytest.mark.slow

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8080/invocations
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.14ms    1.00ms  20.00ms   90.00%
    Req/Sec     2.50k   100.00     2.70k    80.00%
  Latency Distribution
     50%  850.00us
     75%    3.50ms
     90%    4.00ms
     99%    1.02s
  12500 requests in 5.00s, 1.50MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   2500.50
Transfer/sec:    300.00KB
"""


def test_wrk_output_is_read():
    figures = benchmark.parse_wrk(WRK_OUTPUT)
    assert figures["rps"] == 2500.5
    assert figures["p50"] == pytest.approx(0.85) and figures["p99"] == pytest.approx(1020.0)
    assert figures["requests"] == 12500
    assert figures["errors"] == 7


def test_the_fixed_holdout_is_the_one_the_targets_were_set_on():
    from sklearn.linear_model import LinearRegression

    x, y = benchmark.load_data()
    parts = benchmark.split(x, y, benchmark.HOLDOUT_SEED)
    sizes = {name: len(part[1]) for name, part in parts.items()}
    assert sum(sizes.values()) == len(y) == 4177
    assert sizes["test"] == 836 and abs(sizes["validate"] / (sizes["train"] + sizes["validate"]) - 0.15 / 0.85) < 0.01
    fit_x = np.concatenate([parts["train"][0], parts["validate"][0]])
    fit_y = np.concatenate([parts["train"][1], parts["validate"][1]])
    x_test, y_test = parts["test"]
    # The reference figures for this hold-out: the mean 3.29, linear regression 2.21.
    assert benchmark.rmse(y_test, np.full_like(y_test, fit_y.mean())) == pytest.approx(3.29, abs=0.005)
    assert benchmark.rmse(y_test, LinearRegression().fit(fit_x, fit_y).predict(x_test)) == pytest.approx(2.21, abs=0.005)
    again = benchmark.split(x, y, benchmark.HOLDOUT_SEED)
    assert all(np.array_equal(again[name][1], parts[name][1]) for name in parts)


def test_cross_validation_never_touches_the_fixed_holdout():
    from sklearn.model_selection import train_test_split

    _, y = benchmark.load_data()
    _, holdout = train_test_split(np.arange(len(y)), test_size=benchmark.HOLDOUT_FRACTION,
                                  random_state=benchmark.HOLDOUT_SEED)
    plan = benchmark.cv_folds(len(y))
    tests = np.concatenate([test for _, _, test in plan])
    assert len(plan) == benchmark.CV_FOLDS and len(tests) == len(set(tests.tolist())) == len(y) - len(holdout)
    for train, validate, test in plan:
        parts = [set(train.tolist()), set(validate.tolist()), set(test.tolist())]
        assert not any(part & set(holdout.tolist()) for part in parts)
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_a_tiny_cross_validation_reports_every_fold(capsys):
    result = benchmark.crossvalidate({"epochs": "2", "ensemble": "1", "hidden_units": "4"}, seeds=(1,), folds=2)
    assert len(result["folds"]) == 2 and all(len(scores) == 1 for scores in result["folds"])
    assert 1.5 < result["rmse"] < 12 and result["hyperparameters"]["hidden_units"] == "4"
    assert "cross-validated RMSE" in capsys.readouterr().out


def test_a_short_serving_run(require_nginx, trained_root, capsys):
    result = benchmark.serving(trained_root, seconds=1, connections=2, rounds=1)
    assert result["equal_to_keras"]
    assert 0 <= result["largest_difference"] <= 1e-4
    assert result["ratio"] > 0 and result["cpu_ratio"] > 0
    assert all(run["errors"] == 0 and run["rps"] > 0 for runs in result["runs"].values() for run in runs)
    assert result["worker_memory_kib"] and all(m["rss"] < 400 * 1024 for m in result["worker_memory_kib"])
    assert all(m["pss"] <= m["rss"] for m in result["worker_memory_kib"])
    assert result["healthy_seconds"] > 0
    assert result["met"] == (result["ratio"] >= benchmark.TARGET_THROUGHPUT_RATIO and result["healthy_met"]
                             and result["memory_met"] and result["equal_to_keras"])
    printed = capsys.readouterr().out
    assert "requests/s" in printed and "1,000-row request" in printed and "/ping healthy" in printed
    # Each of the serving targets on a line of its own, with its figure and PASS or FAIL.
    for target in (r"/ping healthy <= 1\.5 s after `serve` started: [\d.]+ s (PASS|FAIL)",
                   r"worker memory <= 50 MB each \(RSS, the larger figure\): RSS \d+ MB \(PSS \d+ MB\)"
                   r"(, RSS \d+ MB \(PSS \d+ MB\))* (PASS|FAIL)",
                   r"served predictions within 0\.0001 rings of the Keras model's on the 836 hold-out rows: "
                   r"largest difference \S+ rings PASS"):
        assert re.search("target: " + target, printed), (target, printed)
