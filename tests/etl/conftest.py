"""Fixtures for the data module and the Glue ETL job: the script loaded as a module, the data, a moto server, Glue's
Python."""

import importlib.util

import pytest
from moto.server import ThreadedMotoServer

from mlops_workshop import data
from mlops_workshop.localcloud import pythons
from mlops_workshop.localcloud.glue.environment import GLUE_PYTHON


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
def glue_python():
    """The Python 3.9 Glue's Python shell runs on, as the local cloud finds it (python3.9 on PATH); skips without."""
    python = pythons.interpreter(GLUE_PYTHON)
    if not python.exact:
        pytest.skip(f"no python3.9 on PATH (Glue's Python-shell runtime): {python.describe()}")
    return python
