"""Fixtures for the data module and the Glue ETL job: the script loaded as a module, the data, a moto server."""

import functools
import glob
import importlib.util
import os
import shutil
import subprocess

import pytest
from moto.server import ThreadedMotoServer

from mlops_workshop import data


@pytest.fixture(scope="session")
def preprocess(repo_root):
    """etl/preprocess.py imported under its own name, as the tests call its main() in-process."""
    spec = importlib.util.spec_from_file_location("etl_preprocess", repo_root / "etl" / "preprocess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def raw_frame():
    return data.load_raw()


@pytest.fixture(scope="session")
def raw_csv(raw_frame):
    return raw_frame.to_csv(header=False, index=False).encode()


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on a free loopback port, for running the job as a separate process as Glue would."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def find_python39():
    return _find_python39


@functools.lru_cache(maxsize=None)
def _find_python39():
    """A working Python 3.9 interpreter (PYTHON39 overrides)."""
    candidates = [os.environ.get("PYTHON39"), shutil.which("python3.9")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    candidates += ["/usr/bin/python3.9", "/usr/local/bin/python3.9"]
    check = "import sys; assert sys.version_info[:2] == (3, 9)"
    for candidate in filter(None, candidates):
        try:
            result = subprocess.run([candidate, "-c", check], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0:
            return candidate
    return None
