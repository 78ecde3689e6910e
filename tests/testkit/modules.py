"""Importing the project's scripts (lambda.py, build.py, preprocess.py), which are files, not packages."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType


def load_module(path: str | Path, name: str | None = None) -> ModuleType:
    """Import a file under a unique name, so that the same script can be loaded fresh many times."""
    path = Path(path)
    name = name or f"testkit_{path.parent.name}_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # what dataclasses and pickle look a module's classes up in
    spec.loader.exec_module(module)
    return module
