"""What an image's Dockerfile makes of `train` and `serve`, so that a local process runs what the image would run.

SageMaker starts a container as `docker run IMAGE train` (or `serve`): with an ENTRYPOINT, `train` is its argument;
without one, `train` is the executable of that name on the image's PATH. A local process can stand for the second
only: the context's file that the Dockerfile's COPY or ADD puts on PATH under that name. The Dockerfile is read with
BuildKit's own parser (the `dockerfile` package); the last stage is the image. A processing job's container runs
the image's ENTRYPOINT and CMD (`entrypoint_and_cmd`) unless the job gives its own.
"""

from __future__ import annotations

import fnmatch
import posixpath
from pathlib import Path

import dockerfile

# The PATH of the official Debian and Ubuntu images, for a Dockerfile that sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def process_entrypoint(context: Path, name: str) -> tuple[Path | None, str]:
    """The context's file that is `name` on the image's PATH, or None and why a local process cannot stand for it."""
    path = context / "Dockerfile"
    if not path.is_file():
        return None, f"its build context {context} has no Dockerfile to say what `{name}` is in the image"
    try:
        commands = dockerfile.parse_file(str(path))
    except dockerfile.GoParseError as exc:
        return None, f"its Dockerfile does not parse: {exc}"
    stage = [c for c in commands]
    starts = [i for i, c in enumerate(stage) if c.cmd.upper() == "FROM"]
    stage = stage[starts[-1] + 1:] if starts else stage
    search, workdir, placed = DEFAULT_PATH, "/", {}
    for command in stage:
        cmd = command.cmd.upper()
        if cmd == "ENTRYPOINT":
            return None, (f"its Dockerfile sets ENTRYPOINT {' '.join(command.value)}, which SageMaker runs with "
                          f"`{name}` as its argument")
        if cmd == "ENV":
            pairs = dict(zip(command.value[::2], command.value[1::2]))
            if "PATH" in pairs:
                search = pairs["PATH"].replace("$PATH", search).replace("${PATH}", search)
        elif cmd == "WORKDIR":
            workdir = posixpath.join(workdir, command.value[0])
        elif cmd in ("COPY", "ADD") and not any(f.startswith("--from") for f in command.flags):
            placed.update(_copied(context, list(command.value), workdir))
    for folder in search.split(":"):
        found = placed.get(posixpath.join(folder, name))
        if found is not None:
            return found, ""
    return None, (f"its Dockerfile copies no `{name}` from the build context into a folder on the image's PATH "
                  f"({search})")


def entrypoint_and_cmd(context: Path) -> tuple[list[str], list[str]]:
    """The ENTRYPOINT and CMD of the context's Dockerfile (its last stage), in exec form (a shell form runs in
    /bin/sh -c); empty where the Dockerfile sets none or does not parse."""
    path = context / "Dockerfile"
    try:
        commands = dockerfile.parse_file(str(path)) if path.is_file() else ()
    except dockerfile.GoParseError:
        return [], []
    starts = [i for i, c in enumerate(commands) if c.cmd.upper() == "FROM"]
    found: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
    for command in commands[starts[-1] + 1:] if starts else commands:
        if command.cmd.upper() in found:
            found[command.cmd.upper()] = list(command.value) if command.json else ["/bin/sh", "-c", *command.value]
    return found["ENTRYPOINT"], found["CMD"]


def _copied(context: Path, value: list[str], workdir: str) -> dict[str, Path]:
    """{path in the image: file of the context} for one COPY or ADD."""
    *sources, dest = value
    dest = posixpath.join(workdir, dest)
    into_folder = dest.endswith("/") or len(sources) > 1
    placed: dict[str, Path] = {}
    for source in sources:
        matches = [p for p in context.glob(source.strip("/") or ".")] if any(c in source for c in "*?[") else \
            [context / source.strip("/")] if source.strip("/") not in ("", ".") else [context]
        for match in matches:
            if match.is_dir():
                for file in match.rglob("*"):
                    if file.is_file():
                        placed[posixpath.join(dest, file.relative_to(match).as_posix())] = file
            elif match.is_file():
                target = posixpath.join(dest, match.name) if into_folder or len(matches) > 1 else dest
                placed[posixpath.normpath(target)] = match
    return {posixpath.normpath(k): v for k, v in placed.items() if not fnmatch.fnmatch(k, "*/__pycache__/*")}
