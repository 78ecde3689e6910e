"""Serving never imports TensorFlow: the app module, and every Python process `serve` starts, run under an import
blocker (a sitecustomize.py of this test's, on PYTHONPATH) that refuses TensorFlow, Keras and training.py and notes
each process it watches and each import it refuses. Nothing of this is in the image."""

import http.client
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROW = "0,0,1,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"

BLOCKER = '''
"""Test-only: refuses to import TensorFlow, Keras or the container's training module in this process."""
import os
import sys

_LOG = os.environ["IMPORT_BLOCKER_LOG"]
_BLOCKED = {"tensorflow", "tensorboard", "keras", "tf_keras", "h5py", "training"}


def _note(line):
    with open(os.path.join(_LOG, f"{os.getpid()}.log"), "a") as handle:
        handle.write(line + "\\n")


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            _note(f"refused {name}")
            raise ImportError(f"{name} must not be imported when serving (refused by the test's import blocker)")
        return None


sys.meta_path.insert(0, _Blocker())
_note("watching " + " ".join(sys.orig_argv).replace("\\n", " "))
'''

APP_SCRIPT = '''
import json, sys
import wsgi

client = wsgi.app.test_client()
answers = [client.get("/ping").status_code]
for body, content_type in ((sys.argv[1], "text/csv"), ('{"instances": [[1, 2]]}', "application/json"), ("x", "text/csv")):
    response = client.post("/invocations", data=body, headers={"Content-Type": content_type})
    answers.append([response.status_code, response.get_data(as_text=True)])
print(json.dumps({"answers": answers, "modules": sorted(sys.modules)}))
'''


@pytest.fixture
def blocked_env(tmp_path):
    """(variables that run Python under the import blocker, logs()): logs() is what each process noted, by pid."""
    folder, log = tmp_path / "blocker", tmp_path / "blocker-log"
    folder.mkdir()
    log.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    path = [str(folder), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {"PYTHONPATH": os.pathsep.join(path), "IMPORT_BLOCKER_LOG": str(log)}

    def logs():
        return {int(path.stem): path.read_text().splitlines() for path in log.glob("*.log")}

    return env, logs


def test_the_import_blocker_refuses_tensorflow(blocked_env):
    env, logs = blocked_env
    result = subprocess.run([sys.executable, "-c", "import tensorflow"], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "refused by the test's import blocker" in result.stderr
    assert any("refused tensorflow" in lines for lines in logs().values())


def test_the_app_module_answers_without_tensorflow(blocked_env, container_dir, trained_root, exported_predictor):
    env, logs = blocked_env
    # As gunicorn imports it: from the container folder.
    env = {**os.environ, **env, "OPT_ML_ROOT": str(trained_root),
           "PYTHONPATH": os.pathsep.join([env["PYTHONPATH"], str(container_dir)])}
    result = subprocess.run([sys.executable, "-c", APP_SCRIPT, ROW], cwd=container_dir, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    ping, (csv_status, csv_body), (json_status, _), (bad_status, _) = report["answers"]
    assert (ping, csv_status, json_status, bad_status) == (200, 200, 400, 400)
    expected = exported_predictor(np.array([[float(v) for v in ROW.split(",")]], dtype=np.float32))[0]
    assert np.float32(csv_body) == np.float32(expected)
    assert {"app", "predictor", "contract", "flask", "numpy"} <= set(report["modules"])
    assert not {"tensorflow", "keras", "training"} & {name.split(".")[0] for name in report["modules"]}
    noted = logs()
    assert [lines[0].startswith("watching") for lines in noted.values()] == [True]
    assert not [line for lines in noted.values() for line in lines if line.startswith("refused")], noted


def test_no_process_serve_starts_imports_tensorflow(blocked_env, server_factory, trained_root, tmp_path, processes):
    env, logs = blocked_env
    server = server_factory(trained_root, tmp_path / "run", extra_env=env)
    try:
        server.wait_healthy(timeout=120)
        pids = server.pids()
        for body, content_type in ((ROW, "text/csv"), ((ROW + "\n") * 1000, "text/csv"), ("1,2", "text/csv"),
                                   ('{"instances": [["M", 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]}',
                                    "application/json"), (ROW, "text/plain")):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            connection.request("POST", "/invocations", body=body.encode(), headers={"Content-Type": content_type})
            status = connection.getresponse().status
            connection.close()
            assert status in (200, 400, 415)
        assert server.pids() == pids, "a worker died"
    finally:
        tree = processes.tree(server.process.pid)
        code = server.stop()
        processes.kill(tree)
    assert code == 0, server.read_log()[-3000:]
    noted = logs()
    refused = [(pid, line) for pid, lines in noted.items() for line in lines if line.startswith("refused")]
    assert not refused, f"a process of serve tried to import what serving must not: {refused}\n{server.read_log()[-3000:]}"
    # serve and the gunicorn master ran under the blocker from their start; the workers are forks of the master.
    watched = {pid for pid, lines in noted.items() if lines and lines[0].startswith("watching")}
    assert {server.process.pid, pids["gunicorn"]} <= watched, (noted, pids)
