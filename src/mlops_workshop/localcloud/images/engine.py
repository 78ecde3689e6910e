"""A real container engine for building and running the workshop's image.

`ContainerEngine` uses a Docker engine that is already running (``DOCKER_HOST``, or the default socket)
or, as root, starts Debian's ``dockerd`` with all of its state in a folder of its own, and stops it
again leaving the host as it found it: no daemon, no ``docker0`` bridge, no iptables chains, the
forwarding sysctls as they were. No registry is needed: `ensure_base_image` makes a Debian base image
with debootstrap from the host's own apt mirror and keeps it as a tarball for the next run.

    with ContainerEngine() as engine:
        base = engine.ensure_base_image()
        image = engine.build("container", "abalone:latest", base_image=base)
        result = engine.train(image, "/tmp/opt_ml")
        server = engine.serve(image, "/tmp/opt_ml/model")
        engine.wait_ready(server)
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

BASE_IMAGE_TAG = "localhost/debian-base:bookworm"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SOCKET = "/var/run/docker.sock"
# The official Debian images set this PATH; an imported root file system has none.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Where Debian/Ubuntu and RHEL/Amazon Linux keep locally added CA certificates.
HOST_CA_DIRS = ("/usr/local/share/ca-certificates", "/etc/pki/ca-trust/source/anchors")
SERVING_PORT = 8080
# Files dockerd may create outside its data and exec roots.
_DAEMON_SIDE_PATHS = ("/etc/docker/key.json", "/run/docker", "/run/containerd", "/etc/docker")
_SYSCTLS = (
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv6/conf/all/forwarding",
    "/proc/sys/net/ipv6/conf/default/forwarding",
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
)
_IPTABLES_TABLES = ("filter", "nat", "mangle", "raw")


class EngineError(RuntimeError):
    """The engine could not do what was asked; the message says why and, where it can, what to do."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlops-workshop"


def engine_cache_dir() -> Path:
    """A state folder to keep between runs (``MLOPS_ENGINE_STATE`` overrides): its images and build
    cache make the next build take seconds, and it is never deleted, which on a disk mounted with
    ``discard`` takes longer than the build (about 100 s for the 1.8 GB the image needs)."""
    return Path(os.environ.get("MLOPS_ENGINE_STATE") or cache_dir() / "engine")


def apt_mirror(suite: str = DEBIAN_SUITE, sources: Path | str = "/etc/apt") -> str:
    """The Debian mirror this host's apt uses (``MLOPS_DEBIAN_MIRROR`` overrides), else deb.debian.org."""
    if os.environ.get("MLOPS_DEBIAN_MIRROR"):
        return os.environ["MLOPS_DEBIAN_MIRROR"].rstrip("/")
    sources = Path(sources)
    entries: list[tuple[str, list[str]]] = []
    files = [sources / "sources.list"] + sorted((sources / "sources.list.d").glob("*.list"))
    for path in files:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                words = [w for w in line.split("#", 1)[0].split() if not w.startswith("[")]
                if len(words) >= 3 and words[0] == "deb":
                    entries.append((words[1], [words[2]]))
    for path in sorted((sources / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text(errors="replace").split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                for uri in fields.get("uris", "").split():
                    entries.append((uri, fields.get("suites", "").split()))
    for uri, suites in entries:
        if suite in suites and uri.startswith("http"):
            return uri.rstrip("/")
    for uri, _ in entries:
        if uri.startswith("http") and uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def host_extra_cas() -> list[Path]:
    """CA certificates this host trusts beyond the public ones (a TLS-intercepting proxy's, say)."""
    found: list[Path] = []
    for folder in HOST_CA_DIRS:
        root = Path(folder)
        if root.is_dir():
            found += sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".crt", ".pem"))
    return found


@dataclass
class Container:
    """A container the engine started. `returncode` and `output` are set once a foreground run ends."""

    id: str
    name: str
    ports: dict[int, int] = field(default_factory=dict)
    returncode: int | None = None
    output: str = ""
    seconds: float = 0.0

    def url(self, path: str = "/", port: int = SERVING_PORT) -> str:
        if port not in self.ports:
            raise EngineError(f"container {self.name} publishes no port {port} (published: {self.ports})")
        return f"http://127.0.0.1:{self.ports[port]}{path}"


class ContainerEngine:
    """A Docker engine: one already running, or one this object starts (as root) and stops."""

    def __init__(self, state_dir: Path | str | None = None, *, reuse_running: bool = True,
                 start_timeout: float = 60, lock_timeout: float = 600):
        self.state_dir = Path(state_dir) if state_dir else None
        self.reuse_running = reuse_running
        self.start_timeout = start_timeout
        self.lock_timeout = lock_timeout
        self.host: str | None = None
        self.owned = False
        self.pid: int | None = None
        self.exec_root: Path | None = None
        self._docker = shutil.which("docker")
        self._dockerd = shutil.which("dockerd") or next(
            (p for p in ("/usr/sbin/dockerd", "/usr/bin/dockerd") if os.access(p, os.X_OK)), None)
        self._proc: subprocess.Popen | None = None
        self._snapshot: _HostSnapshot | None = None
        self._lock = None
        self._temp_dirs: list[Path] = []
        self._containers: dict[str, Container] = {}
        self.undone: list[str] = []
        self.host_before: dict | None = None  # host_state() just before this engine started dockerd
        self.host_after: dict | None = None  # and once it had stopped it and cleaned up

    def __enter__(self) -> ContainerEngine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def available(self) -> tuple[bool, str]:
        """Whether an engine can be used here, and why (or why not)."""
        if os.environ.get("MLOPS_SKIP_ENGINE") == "1":
            return False, "MLOPS_SKIP_ENGINE=1 turns the container engine off"
        if not self._docker:
            return False, "no `docker` command-line client on PATH (Debian: apt-get install docker.io)"
        if self.reuse_running:
            host = self._running_engine()
            if host:
                return True, f"a Docker engine is running at {host}"
        if not self._dockerd:
            return False, ("no Docker engine is running and there is no dockerd to start one "
                           "(Debian: scripts/install-system-deps.sh as root, or apt-get install docker.io)")
        if os.geteuid() != 0:
            return False, "no Docker engine is running, and starting dockerd needs root"
        missing = [tool for tool in ("iptables", "ip") if not shutil.which(tool)]
        if missing:
            return False, f"dockerd needs {' and '.join(missing)}, which this host lacks"
        return True, f"can start {self._dockerd} as root"

    def start(self, state_dir: Path | str | None = None) -> ContainerEngine:
        """Use the running engine, or start dockerd with its state under `state_dir` (a temporary folder
        when none is given, removed again by `stop`)."""
        if self.host:
            return self
        if state_dir:
            self.state_dir = Path(state_dir)
        ok, why = self.available()
        if not ok:
            raise EngineError(why)
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="mlops-engine-"))
            self._temp_dirs.append(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.reuse_running:
            host = self._running_engine()
            if host:
                self.host = host
                return self
        try:
            self._start_dockerd()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def _start_dockerd(self) -> None:
        self._lock = _lock_engine(self._dockerd, self.lock_timeout)
        data_root = self.state_dir / "data"
        # Unix socket paths are limited to 108 bytes and containerd nests its sockets deep under exec-root.
        exec_root = self.state_dir / "exec"
        if len(str(exec_root)) > 48:
            exec_root = Path(tempfile.mkdtemp(prefix="mlops-dockerd-", dir="/tmp"))
            self._temp_dirs.append(exec_root)
        exec_root.mkdir(parents=True, exist_ok=True)
        self.exec_root = exec_root
        config = self.state_dir / "daemon.json"
        config.write_text("{}\n")  # so that a host's /etc/docker/daemon.json cannot clash with our flags
        socket = exec_root / "docker.sock"
        log_path = self.state_dir / "dockerd.log"
        self._snapshot = _HostSnapshot.take()
        self.host_before = host_state()
        with open(log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [self._dockerd, "--data-root", str(data_root), "--exec-root", str(exec_root),
                 "-H", f"unix://{socket}", "--pidfile", str(exec_root / "dockerd.pid"),
                 "--config-file", str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self._proc.pid
        self.owned = True
        self.host = f"unix://{socket}"
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                raise EngineError(f"dockerd exited with status {self._proc.returncode} while starting; "
                                  f"the end of {log_path}:\n{_tail(log_path)}")
            if socket.exists() and self._answers(self.host):
                # Containers left in a kept state folder by a run that died are this engine's own.
                leftovers = self.docker("ps", "--all", "--quiet").stdout.split()
                if leftovers:
                    self.docker("rm", "--force", *leftovers, check=False)
                return
            if time.monotonic() > deadline:
                raise EngineError(f"dockerd did not answer within {self.start_timeout:.0f} s; "
                                  f"the end of {log_path}:\n{_tail(log_path)}")
            time.sleep(0.2)

    def stop(self) -> list[str]:
        """Remove the containers this engine started; stop dockerd if it started it, and undo what dockerd
        did to the host. Returns what it undid (for a log). Safe to call more than once."""
        undone: list[str] = []
        try:
            if self.host:
                for ref in list(self._containers):
                    self.remove_container(ref)
            if self._proc is not None:
                started = time.monotonic()
                undone += self._stop_dockerd()
                logger.info("dockerd stopped in %.1f s", time.monotonic() - started)
            if self._snapshot is not None:
                undone += self._snapshot.restore()
                self._snapshot = None
            for folder in reversed(self._temp_dirs):
                started = time.monotonic()
                undone += _remove_tree(folder)
                logger.info("removed %s in %.1f s", folder, time.monotonic() - started)
            self._temp_dirs.clear()
            if self._lock is not None:
                self.host_after = host_state()  # before another engine may take the lock
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None
            self.host = None
            self.pid = None
            self._proc = None
            atexit.unregister(self.stop)
        self.undone += undone
        return undone

    def _stop_dockerd(self) -> list[str]:
        undone = []
        proc = self._proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                undone.append(f"killed dockerd {proc.pid} (no exit 30 s after SIGTERM)")
        # containerd and its shims run in their own sessions; they are ours if they name our roots.
        roots = [str(self.exec_root), str(self.state_dir / "data")]
        for pid, cmdline in _processes():
            if any(root in cmdline for root in roots):
                try:
                    os.kill(pid, signal.SIGKILL)
                    undone.append(f"killed leftover process {pid}: {cmdline[:80]}")
                except ProcessLookupError:
                    pass
        for root in (self.exec_root, self.state_dir / "data"):
            undone += _unmount_under(root)
        # The exec root is run-time state (sockets, pid file); the data root is what a kept folder keeps.
        undone += _remove_tree(self.exec_root)
        return undone

    @property
    def env(self) -> dict[str, str]:
        """The environment for a docker command-line client talking to this engine."""
        if not self.host:
            raise EngineError("the container engine is not started: call start() first")
        env = dict(os.environ, DOCKER_HOST=self.host, DOCKER_BUILDKIT="0")
        if self.owned:
            # Keep the client's own files (config.json) out of the user's home.
            env["DOCKER_CONFIG"] = str(self.state_dir / "docker-config")
        return env

    def docker(self, *args, timeout: float | None = 120, check: bool = True,
               input: str | None = None) -> subprocess.CompletedProcess:
        """Run the docker client against this engine and return its result (text)."""
        cmd = [self._docker, *map(str, args)]
        try:
            proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout,
                                  input=input)
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"`docker {' '.join(map(str, args[:3]))}` took over {timeout} s") from exc
        if check and proc.returncode != 0:
            raise EngineError(f"`docker {' '.join(map(str, args[:3]))}` failed ({proc.returncode}): "
                              f"{(proc.stderr or proc.stdout).strip()}")
        return proc

    def version(self) -> str:
        return self.docker("version", "--format", "{{.Server.Version}}").stdout.strip()

    def prune(self) -> None:
        """Remove stopped containers and untagged images (earlier builds of a tag)."""
        leftovers = self.docker("ps", "--all", "--quiet", "--filter", "status=exited",
                                "--filter", "status=created").stdout.split()
        if leftovers:
            self.docker("rm", "--force", *leftovers, check=False)
        self.docker("image", "prune", "--force", check=False, timeout=600)

    def image_exists(self, ref: str) -> bool:
        return self.docker("image", "inspect", ref, check=False).returncode == 0

    def remove_image(self, ref: str) -> None:
        self.docker("image", "rm", "-f", ref, check=False)

    def ensure_base_image(self, tag: str = BASE_IMAGE_TAG, *, suite: str = DEBIAN_SUITE,
                          mirror: str | None = None, cache: Path | str | None = None) -> str:
        """A bare Debian `suite` image (debootstrap minbase) under `tag`, for hosts that reach no registry.
        The root file system is kept as a tarball under ~/.cache/mlops-workshop, so later calls import it
        in seconds; the first takes one to three minutes and needs root and debootstrap."""
        if self.image_exists(tag):
            return tag
        cache = Path(cache) if cache else cache_dir()
        arch = _architecture()
        tarball = cache / f"debian-{suite}-minbase-{arch}.tar.gz"
        if not tarball.is_file():
            self._debootstrap(suite, mirror or apt_mirror(suite), tarball)
        try:
            self.docker("import", "--change", 'CMD ["/bin/bash"]', "--change", f"ENV PATH={BASE_PATH}",
                        tarball, tag, timeout=600)
        except EngineError as error:
            raise EngineError(f"{error}\nIf {tarball} is damaged, delete it and it will be made again.") from None
        return tag

    def _debootstrap(self, suite: str, mirror: str, tarball: Path) -> None:
        debootstrap = shutil.which("debootstrap") or (
            "/usr/sbin/debootstrap" if os.access("/usr/sbin/debootstrap", os.X_OK) else None)
        if not debootstrap or os.geteuid() != 0:
            raise EngineError(f"no base image {BASE_IMAGE_TAG} and no way to make one: debootstrap "
                              f"{'is missing' if not debootstrap else 'needs root'} (Debian: apt-get install "
                              "debootstrap). Or pass base_image= an image your engine can pull.")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="mlops-debootstrap-", dir=tarball.parent))
        try:
            rootfs = work / "rootfs"
            log_path = work / "debootstrap.log"
            with open(log_path, "wb") as log:
                rc = subprocess.call([debootstrap, "--variant=minbase", suite, str(rootfs), mirror],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            _unmount_under(rootfs)
            if rc != 0:
                raise EngineError(f"debootstrap {suite} from {mirror} failed ({rc}); set MLOPS_DEBIAN_MIRROR "
                                  f"to a reachable Debian mirror. The end of its log:\n{_tail(log_path)}")
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (rootfs / junk).glob("*"):
                    if path.is_file():
                        path.unlink()
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "-f", str(partial),
                            "--use-compress-program=gzip -1", "."], check=True)
            os.replace(partial, tarball)
        finally:
            _remove_tree(work)

    def build(self, context_dir: Path | str, tag: str, *, base_image: str | None = None,
              build_args: dict[str, str] | None = None, log_path: Path | str | None = None,
              ca_files: list[Path] | None = None, timeout: float = 3600) -> str:
        """Build `context_dir` (its Dockerfile) as `tag` and return the image id.

        The build runs on a temporary copy of the context whose ``build-ca/`` holds the host's extra CA
        certificates (`ca_files`, by default `host_extra_cas`), so that HTTPS inside the build works
        behind a TLS-intercepting proxy and no certificate lands in the repository. The build's output
        goes to `log_path` as it runs."""
        context_dir = Path(context_dir)
        if not (context_dir / "Dockerfile").is_file():
            raise EngineError(f"{context_dir} has no Dockerfile")
        log_path = Path(log_path) if log_path else self._log_dir() / f"build-{_slug(tag)}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mlops-build-") as tmp:
            context = Path(tmp) / "context"
            shutil.copytree(context_dir, context, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
            ca_dir = context / "build-ca"
            ca_dir.mkdir(exist_ok=True)
            for index, ca in enumerate(host_extra_cas() if ca_files is None else ca_files):
                shutil.copyfile(ca, ca_dir / f"{index:02d}-{Path(ca).stem}.crt")
            iidfile = Path(tmp) / "iid"
            cmd = [self._docker, "build", "--iidfile", str(iidfile), "--tag", tag, "--force-rm"]
            args = dict(build_args or {})
            if base_image:
                args["BASE_IMAGE"] = base_image
            for key, value in args.items():
                cmd += ["--build-arg", f"{key}={value}"]
            cmd.append(str(context))
            with open(log_path, "wb") as log:
                try:
                    rc = subprocess.call(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, timeout=timeout)
                except subprocess.TimeoutExpired as exc:
                    raise EngineError(f"building {tag} took over {timeout:.0f} s; see {log_path}") from exc
            if rc != 0 or not iidfile.is_file():
                raise EngineError(f"building {tag} failed ({rc}); the end of {log_path}:\n{_tail(log_path)}")
            return iidfile.read_text().strip()

    def run(self, image: str, args: list[str] | tuple[str, ...] = (), *, env: dict[str, str] | None = None,
            volumes: dict[Path | str, str] | None = None, ports: dict[int, int | None] | None = None,
            detach: bool = False, name: str | None = None, timeout: float | None = None,
            log_path: Path | str | None = None) -> Container:
        """Run `image` with `args`.

        volumes: host path -> container path (append ``:ro`` for read-only). ports: container port ->
        host port on 127.0.0.1 (None picks a free one). detach=False waits for the exit and returns
        its code and output (also written to `log_path`); detach=True returns the running container."""
        name = name or f"mlops-{uuid.uuid4().hex[:12]}"
        cmd = ["run", "--name", name]
        for key, value in (env or {}).items():
            cmd += ["--env", f"{key}={value}"]
        for host_path, target in (volumes or {}).items():
            host_path = Path(host_path).resolve()
            if not host_path.exists():
                raise EngineError(f"cannot mount {host_path}: it does not exist")
            cmd += ["--volume", f"{host_path}:{target}"]
        for container_port, host_port in (ports or {}).items():
            cmd += ["--publish", f"127.0.0.1:{host_port or ''}:{container_port}"]
        if detach:
            cid = self.docker(*cmd, "--detach", image, *args, timeout=120).stdout.strip()
            container = Container(id=cid, name=name)
            self._containers[name] = container
            for container_port in ports or {}:
                mapped = self.docker("port", name, f"{container_port}/tcp").stdout.split()
                container.ports[container_port] = int(mapped[0].rsplit(":", 1)[1])
            return container
        if log_path:
            log_path = Path(log_path)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "w+b")
        else:
            log = tempfile.TemporaryFile()
        self._containers[name] = Container(id=name, name=name)
        started = time.monotonic()
        try:
            with log:
                try:
                    rc = subprocess.call([self._docker, *cmd, image, *args], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         timeout=timeout)
                except subprocess.TimeoutExpired as exc:
                    log.seek(0)
                    raise EngineError(f"`{' '.join(args)}` in {image} ran over {timeout} s; the end of its "
                                      f"output:\n{_last_lines(log.read().decode(errors='replace'))}") from exc
                log.seek(0)
                output = log.read().decode(errors="replace")
        finally:
            self.remove_container(name)
        return Container(id=name, name=name, returncode=rc, seconds=time.monotonic() - started, output=output)

    def train(self, image: str, opt_ml: Path | str, *, env: dict[str, str] | None = None,
              timeout: float | None = 3600, log_path: Path | str | None = None) -> Container:
        """`train` in `image` with the host folder `opt_ml` as /opt/ml, as a SageMaker training job does."""
        return self.run(image, ["train"], env=env, volumes={opt_ml: "/opt/ml"}, timeout=timeout,
                        log_path=log_path)

    def serve(self, image: str, model_dir: Path | str, *, host_port: int | None = None,
              env: dict[str, str] | None = None, name: str | None = None) -> Container:
        """`serve` in `image` with `model_dir` as /opt/ml/model (read-only, as on an endpoint) and port
        8080 published on 127.0.0.1 (`host_port`, or a free port: see ``container.ports``)."""
        return self.run(image, ["serve"], env=env, volumes={model_dir: "/opt/ml/model:ro"},
                        ports={SERVING_PORT: host_port}, detach=True, name=name)

    def wait_ready(self, container: Container, path: str = "/ping", timeout: float = 120) -> float:
        """Wait until `path` answers 200 through the published serving port; returns the seconds it took.
        Fails with the container's log when it exits or stays unhealthy."""
        url = container.url(path)
        started = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if not self.is_running(container):
                raise EngineError(f"{container.name} exited before {path} answered; its log:\n"
                                  f"{_last_lines(self.logs(container))}")
            if time.monotonic() - started > timeout:
                raise EngineError(f"{url} did not answer 200 within {timeout:.0f} s; the container's log:\n"
                                  f"{_last_lines(self.logs(container))}")
            time.sleep(0.25)

    def is_running(self, container: Container | str) -> bool:
        proc = self.docker("inspect", "--format", "{{.State.Running}}", _ref(container), check=False)
        return proc.stdout.strip() == "true"

    def stop_container(self, container: Container | str, timeout: float = 10) -> int:
        """Send SIGTERM (SIGKILL after `timeout` seconds), wait for the exit and return the exit code."""
        self.docker("stop", "--time", str(int(timeout)), _ref(container), timeout=timeout + 60)
        return int(self.docker("inspect", "--format", "{{.State.ExitCode}}", _ref(container)).stdout)

    def logs(self, container: Container | str) -> str:
        proc = self.docker("logs", _ref(container), check=False)
        return proc.stdout + proc.stderr

    def remove_container(self, container: Container | str) -> None:
        """Remove a container (running or not); nothing to do once the engine has stopped."""
        if not self.host:
            return
        ref = _ref(container)
        self.docker("rm", "--force", ref, check=False, timeout=60)
        self._containers.pop(ref, None)
        for key, known in list(self._containers.items()):
            if known.id == ref:
                self._containers.pop(key)

    def _log_dir(self) -> Path:
        if not self.host:
            raise EngineError("the container engine is not started: call start() first")
        return self.state_dir / "logs"

    def _answers(self, host: str) -> bool:
        try:
            proc = subprocess.run([self._docker, "version", "--format", "{{.Server.Version}}"],
                                  env=dict(os.environ, DOCKER_HOST=host), capture_output=True, timeout=15)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    def _running_engine(self) -> str | None:
        candidates = [os.environ["DOCKER_HOST"]] if os.environ.get("DOCKER_HOST") else []
        if os.path.exists(DEFAULT_SOCKET):
            candidates.append(f"unix://{DEFAULT_SOCKET}")
        return next((host for host in candidates if self._answers(host)), None)


@dataclass
class _HostSnapshot:
    """What dockerd changes on the host, taken before it starts, so that `restore` can undo exactly that."""

    links: set[str]
    rules: dict[tuple[str, str], list[str]]
    sysctls: dict[str, str]
    paths: dict[str, bool]

    @classmethod
    def take(cls) -> _HostSnapshot:
        return cls(links=_links(), rules=_all_rules(), sysctls=_read_sysctls(),
                   paths={path: os.path.lexists(path) for path in _DAEMON_SIDE_PATHS})

    def restore(self) -> list[str]:
        undone = []
        new_links = sorted(_links() - self.links)
        ours = [link for link in new_links if link == "docker0" or link.startswith(("br-", "veth"))]
        for (tool, table), before in self.rules.items():
            undone += _restore_rules(tool, table, before, ours)
        for link in ours:
            if subprocess.run(["ip", "link", "delete", link], capture_output=True).returncode == 0:
                undone.append(f"deleted link {link}")
        for path, value in self.sysctls.items():
            try:
                now = Path(path).read_text().strip()
                if now != value:
                    Path(path).write_text(value + "\n")
                    undone.append(f"{path}: {now} -> {value}")
            except OSError:
                pass
        for path, existed in self.paths.items():
            target = Path(path)
            if existed or not os.path.lexists(target):
                continue
            if target.is_dir() and not target.is_symlink():
                if path == "/etc/docker" and any(target.iterdir()):
                    continue
                undone += _remove_tree(target)
            else:
                target.unlink()
                undone.append(f"removed {path}")
        return undone


def _restore_rules(tool: str, table: str, before: list[str], links: list[str]) -> list[str]:
    undone = []
    now = _rules(tool, table)
    if now is None:
        return undone
    previous = set(before)

    def docker_made(line: str) -> bool:
        return "DOCKER" in line or any(link in line.split() for link in links)

    for line in now:
        if line.startswith("-A ") and line not in previous and docker_made(line):
            args = shlex.split(line)
            args[0] = "-D"
            if subprocess.run([tool, "-w", "-t", table, *args], capture_output=True).returncode == 0:
                undone.append(f"{tool} -t {table} {line}")
    chains = [line.split()[1] for line in now
              if line.startswith("-N ") and line not in previous and docker_made(line)]
    for chain in chains:
        subprocess.run([tool, "-w", "-t", table, "-F", chain], capture_output=True)
    for chain in chains:
        if subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True).returncode == 0:
            undone.append(f"{tool} -t {table} -X {chain}")
    policies = {line.split()[1]: line.split()[2] for line in before if line.startswith("-P ")}
    for line in now:
        if line.startswith("-P "):
            chain, policy = line.split()[1:3]
            if chain in policies and policies[chain] != policy:
                subprocess.run([tool, "-w", "-t", table, "-P", chain, policies[chain]], capture_output=True)
                undone.append(f"{tool} -t {table} -P {chain} {policies[chain]} (was {policy})")
    return undone


def _rules(tool: str, table: str) -> list[str] | None:
    try:
        proc = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.splitlines() if proc.returncode == 0 else None


def _all_rules() -> dict[tuple[str, str], list[str]]:
    rules = {}
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool):
            for table in _IPTABLES_TABLES:
                lines = _rules(tool, table)
                if lines is not None:
                    rules[(tool, table)] = lines
    return rules


def host_state() -> dict:
    """What a started dockerd would change, as it is now (for tests that check nothing is left)."""
    return {
        "links": sorted(_links()),
        "rules": {f"{tool} {table}": lines for (tool, table), lines in _all_rules().items()},
        "sysctls": _read_sysctls(),
        "paths": {path: os.path.lexists(path) for path in _DAEMON_SIDE_PATHS if path != "/etc/docker"},
    }


def _links() -> set[str]:
    try:
        return set(os.listdir("/sys/class/net"))
    except OSError:
        return set()


def _read_sysctls() -> dict[str, str]:
    values = {}
    for path in _SYSCTLS:
        try:
            values[path] = Path(path).read_text().strip()
        except OSError:
            pass
    return values


def _processes() -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                raw = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            found.append((int(entry), raw.replace(b"\0", b" ").decode(errors="replace")))
    return found


def _mounts_under(root: Path) -> list[str]:
    """Mount points strictly below `root` (root itself may well be a disk of its own)."""
    root_text = str(root.resolve()) if root.exists() else str(root)
    mounts = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(root_text.rstrip("/") + "/"):
                mounts.append(point)
    return mounts


def _unmount_under(root: Path | None) -> list[str]:
    if root is None:
        return []
    undone = []
    for point in sorted(_mounts_under(root), key=len, reverse=True):
        if subprocess.run(["umount", "-l", point], capture_output=True).returncode == 0:
            undone.append(f"unmounted {point}")
    return undone


def _remove_tree(root: Path) -> list[str]:
    """Remove `root`, but never through a mount point still in it."""
    root = Path(root)
    if not os.path.lexists(root):
        return []
    undone = _unmount_under(root)
    if _mounts_under(root):
        raise EngineError(f"{root} still has mounts under it; not removing it")
    shutil.rmtree(root, ignore_errors=True)
    return undone + [f"removed {root}"]


class _Lock:
    def __init__(self, fd: int):
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


def _lock_engine(dockerd: str, timeout: float) -> _Lock:
    """One workshop dockerd per host at a time (they would share docker0 and the iptables chains).
    The lock is taken on the dockerd binary itself, so that it leaves no file behind."""
    fd = os.open(dockerd, os.O_RDONLY)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return _Lock(fd)
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise EngineError(f"another workshop container engine has been running for over {timeout:.0f} s "
                                  "(it holds the lock on dockerd); try again when it has stopped") from None
            time.sleep(1)


def _architecture() -> str:
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.uname().machine


def _ref(container: Container | str) -> str:
    return container.name if isinstance(container, Container) else container


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return _last_lines(Path(path).read_text(errors="replace"), lines)
    except OSError:
        return "(no log)"


def _last_lines(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


__all__ = ["BASE_IMAGE_TAG", "Container", "ContainerEngine", "EngineError", "apt_mirror", "cache_dir",
           "engine_cache_dir", "host_extra_cas", "host_state"]
