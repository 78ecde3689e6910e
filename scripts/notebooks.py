"""The numbered notebooks, run on a fresh local cloud of their own: `make notebooks` and `make nbval`.

    python scripts/notebooks.py run      # papermill runs them in order; each one's time; outputs written back, scrubbed
    python scripts/notebooks.py check    # nbval runs the committed ones in order and compares every cell's outputs

Both start from an empty state folder (.state/notebooks-run) with the local cloud on a free port, which the
notebooks find through MLOPS_STATE_DIR and MLOPS_PORT (their `state_dir` and `port` parameters stay None, so no
parameters cell is injected), and stop that cloud at the end, whatever happened.

`run` writes the notebooks back only when every one ran to its end, after scrubbing what is of this machine and
this run: the repository's path (paths show relative to it), the loopback ports, papermill's and the kernel's
timing metadata. It refuses to write a notebook with an error output, a machine path or a pid left in it, or one
over 1 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STATE_DIR = ROOT / ".state" / "notebooks-run"
SANITIZER = NOTEBOOKS / "nbval-sanitize.cfg"
MAX_BYTES = 1_000_000
# What the kernels must not inherit: anything that would point boto3 or the notebooks somewhere else.
INHERITED_SETTINGS = ("AWS_", "MLOPS_TARGET", "MLOPS_SOURCE", "MLOPS_STATE_DIR", "MLOPS_PORT")
PORT = re.compile(r"(127\.0\.0\.1|localhost):\d{2,5}")
PID = re.compile(r"\bpid:? \d+")
MACHINE_PATHS = re.compile(r"(?<![\w.])/(?:tmp|root|home|work|var|usr|proc)/[^\s'\"<>]*")


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def numbered(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_cloud_environment(state_dir: Path = STATE_DIR) -> dict[str, str]:
    """An empty state folder and a free port, in the environment the kernels inherit."""
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_SETTINGS)}
    env.update({"MLOPS_STATE_DIR": str(state_dir), "MLOPS_PORT": str(free_port()),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))})
    return env


def stop_cloud(state_dir: Path = STATE_DIR) -> None:
    from mlops_workshop.localcloud import lifecycle
    from mlops_workshop.target import cloud_dir

    if lifecycle.stop(cloud_dir(state_dir)):
        print(f"local cloud on {shown(cloud_dir(state_dir))} stopped")


# ---------- scrubbing what is of this machine and this run ----------


def scrub_text(text: str, root: Path = ROOT) -> str:
    text = text.replace(f"{root}/", "").replace(str(root), ".")
    return PORT.sub(lambda match: f"{match.group(1)}:PORT", text)


def _texts(output: dict):
    """(container, key) of every text an output holds."""
    if "text" in output:
        yield output, "text"
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime == "application/json":
            yield output["data"], mime


def scrub(notebook: dict, root: Path = ROOT) -> dict:
    """The notebook without papermill's metadata and the cells' timings, its outputs' paths relative to the
    repository and its loopback ports as PORT."""
    notebook["metadata"].pop("papermill", None)
    notebook["metadata"]["language_info"] = {"name": "python"}
    for cell in notebook["cells"]:
        for key in ("papermill", "execution"):
            cell.get("metadata", {}).pop(key, None)
        for output in cell.get("outputs", []):
            for container, key in _texts(output):
                value = container[key]
                if isinstance(value, list):
                    container[key] = [scrub_text(line, root) for line in value]
                elif isinstance(value, str):
                    container[key] = scrub_text(value, root)
    return notebook


def problems(notebook: dict, name: str) -> list[str]:
    """What keeps a scrubbed notebook from being committed: errors, machine paths, pids, its size."""
    found = []
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for number, cell in enumerate(code_cells):
        for output in cell.get("outputs", []):
            where = f"{name}, code cell {number} (In [{cell.get('execution_count')}])"
            if output.get("output_type") == "error":
                found.append(f"{where}: an error output ({output.get('ename')})")
            for container, key in _texts(output):
                value = container[key]
                text = "".join(value) if isinstance(value, list) else str(value)
                for pattern, what in ((MACHINE_PATHS, "a path of this machine"), (PID, "a pid")):
                    match = pattern.search(text)
                    if match:
                        found.append(f"{where}: {what}: {match.group(0)!r}")
    size = len(json.dumps(notebook, indent=1, ensure_ascii=False))
    if size > MAX_BYTES:
        found.append(f"{name}: {size:,} bytes, over {MAX_BYTES:,}")
    return found


def write_notebook(notebook: dict, path: Path) -> None:
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------- make notebooks ----------


def run(books: list[Path], state_dir: Path = STATE_DIR) -> int:
    """Each notebook in order with papermill; all of them written back, scrubbed, when every one ran to its end."""
    import papermill

    env = fresh_cloud_environment(state_dir)
    executed_dir = state_dir / "executed"
    executed_dir.mkdir()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # papermill's kernels inherit this process's environment
    print(f"notebooks on a fresh local cloud: state {shown(state_dir)}, port {env['MLOPS_PORT']}")
    executed, started = {}, time.monotonic()
    try:
        for book in books:
            began = time.monotonic()
            output = executed_dir / book.name
            try:
                papermill.execute_notebook(str(book), str(output), cwd=str(book.parent), kernel_name="python3",
                                           progress_bar=False, log_output=False)
            except papermill.PapermillExecutionError as error:
                print(f"{book.name:<28} FAILED after {time.monotonic() - began:5.1f} s\n\n"
                      f"FAILED: {shown(book)}, cell {error.cell_index} (In [{error.exec_count}]): "
                      f"{error.ename}: {error.evalue}\n(the executed notebook: {shown(output)}; nothing was "
                      f"written back)", file=sys.stderr)
                return 1
            print(f"{book.name:<28} {time.monotonic() - began:6.1f} s", flush=True)
            executed[book] = json.loads(output.read_text())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        stop_cloud(state_dir)
    found = []
    for book, notebook in executed.items():
        scrub(notebook)
        found += problems(notebook, shown(book))
    if found:
        print("not written back:\n  " + "\n  ".join(found), file=sys.stderr)
        return 1
    for book, notebook in executed.items():
        write_notebook(notebook, book)
    print(f"all {len(books)} in {time.monotonic() - started:.1f} s; written back to notebooks/ "
          f"({', '.join(f'{b.stem[:2]} {b.stat().st_size // 1024} kB' for b in books)})")
    return 0


# ---------- make nbval ----------


def check(books: list[Path], pytest_args: list[str], state_dir: Path = STATE_DIR) -> int:
    """nbval on the notebooks in order (pytest's exit status); pytest_args go to pytest (-v, -x, -k ...)."""
    env = fresh_cloud_environment(state_dir)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
               f"--nbval-sanitize-with={SANITIZER}", *pytest_args, *map(str, books)]
    print(f"nbval on a fresh local cloud: state {shown(state_dir)}, port {env['MLOPS_PORT']}", flush=True)
    started = time.monotonic()
    try:
        code = subprocess.call(command, cwd=ROOT, env=env)
    finally:
        stop_cloud(state_dir)
    print(f"nbval: {len(books)} notebooks in {time.monotonic() - started:.1f} s, pytest exit {code}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "check"))
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks in the order to run them (default: notebooks/NN_*.ipynb)")
    args, rest = parser.parse_known_args(argv)
    books = [book.resolve() for book in args.notebooks] or numbered()
    if args.command == "run":
        if rest:
            parser.error(f"unknown arguments {' '.join(rest)}")
        return run(books)
    return check(books, rest)


if __name__ == "__main__":
    sys.exit(main())
