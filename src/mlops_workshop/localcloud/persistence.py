"""What the local cloud keeps across a stop, a restart and a crash: one snapshot of all its state in the state folder.

moto keeps its state in memory and has no persistence of its own, so the cloud pickles it: every moto backend in
use, beside what each service keeps of its own (`Service.snapshot()`). It is one snapshot in two parts: the lazy
services' (CloudFormation, Step Functions and Application Auto Scaling, whose moto modules take seconds to import)
and everything else. The lazy part refers to objects of the other by their place in its pickle, so the two are one
state, and a start loads the lazy part only when one of those services is first used (or in the background right
after): a cloud that kept a whole pipeline run answers, endpoints serving, in seconds. S3 object bodies and other
large byte strings go to content-addressed files under `state/blobs/`, written once, so a snapshot stays small
however much the buckets hold.

A background thread saves at most every `persist_interval_s` (setting, default 1 s) while the cloud is busy (a call
that writes, or work in the background), skipping the write when nothing changed. The setting `persist: false`
keeps nothing (for measuring what keeping costs; the state folder is then neither read nor written). A snapshot is written to a
temporary file, flushed to disk and renamed over the last one, so a crash while saving leaves the previous state;
a `kill -9` loses at most the last interval. A state folder written by another format or moto version is refused,
with what to do, rather than loaded in part.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import logging
import os
import pickle
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import LocalCloud

log = logging.getLogger("mlops_workshop.localcloud.persistence")

FORMAT = 2
SNAPSHOT = "snapshot.pickle"
VERSION = "version.json"
BLOB_BYTES = 64 * 1024
DEFAULT_INTERVAL_S = 1.0
_LOCK, _RLOCK = type(threading.Lock()), type(threading.RLock())
# Objects of a running process that a snapshot cannot hold; they come back as None (the work they did is over).
_RUNTIME_TYPES = (threading.Thread,)


class StateError(RuntimeError):
    """The state folder cannot be loaded; the message says why and what to do."""


def _none() -> None:
    return None


def _restore_weak(items: list[tuple[Any, Any]]) -> weakref.WeakValueDictionary:
    return weakref.WeakValueDictionary(items)


def _event(is_set: bool) -> threading.Event:
    event = threading.Event()
    if is_set:
        event.set()
    return event


def _moto_dict(cls: type, state: dict[str, Any], items: list[tuple[Any, Any]]) -> Any:
    """One of moto's dict subclasses with its raw items: some override __setitem__ and items() (S3's versioned key
    store keeps a list of versions under each key and shows only the latest)."""
    rebuilt = cls.__new__(cls)
    dict.update(rebuilt, items)
    rebuilt.__dict__.update(state)
    return rebuilt


def _defaultdict(cls: type, factory: Any, state: dict[str, Any], items: list[tuple[Any, Any]]) -> Any:
    """A defaultdict (or a subclass whose __init__ takes other arguments, as moto's do) with its factory, its
    attributes and its items, built without calling __init__."""
    rebuilt = cls.__new__(cls)
    rebuilt.default_factory = factory
    for name, value in state.items():
        setattr(rebuilt, name, value)
    rebuilt.update(items)
    return rebuilt


class _Pickler(pickle.Pickler):
    """Locks, events and weak dictionaries as fresh ones, large bytes as blob references, the classes a live
    service made for itself (see `Service.persistent_classes`) by name, and (for the lazy part) the objects the
    eager part holds by their place in it."""

    def __init__(self, file: io.BytesIO, store: "StateStore", eager: dict[int, tuple[int, Any]] | None = None):
        from moto.core.base_backend import AccountSpecificBackend, BackendDict
        super().__init__(file, protocol=5)
        self.store = store
        self.blobs: set[str] = set()
        self.classes = store.bound_classes()
        self.registries = (BackendDict, AccountSpecificBackend)
        self.eager = eager

    def persistent_id(self, obj: Any) -> Any:
        BackendDict, AccountSpecificBackend = self.registries
        if self.eager is not None:
            held = self.eager.get(id(obj))
            if held is not None and held[1] is obj:
                return ("eager", held[0])
        if type(obj) is bytes and len(obj) >= BLOB_BYTES:
            name = self.store.write_blob(obj)
            self.blobs.add(name)
            return ("blob", name)
        if isinstance(obj, type) and obj in self.classes:
            return ("class", self.classes[obj])
        # moto's registries of backends are the live ones, not copies: models keep references to them.
        if isinstance(obj, BackendDict):
            return ("backends", backend_kind(obj))
        if isinstance(obj, AccountSpecificBackend):
            return ("account_backends", backend_kind(obj), obj.account_id)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (_LOCK, _RLOCK)):
            return (type(obj) is _RLOCK and threading.RLock or threading.Lock, ())
        if isinstance(obj, threading.Event):
            return (_event, (obj.is_set(),))
        if isinstance(obj, threading.Condition):
            return (threading.Condition, ())
        if isinstance(obj, weakref.WeakValueDictionary):
            return (_restore_weak, (list(obj.items()),))
        if isinstance(obj, collections.defaultdict):
            factory = obj.default_factory
            if getattr(factory, "__name__", "") == "<lambda>":
                # moto's defaultdict(lambda: {}): the type of what the factory makes stands in for the lambda.
                factory = type(factory())
            return (_defaultdict, (type(obj), factory, dict(getattr(obj, "__dict__", {})), list(obj.items())))
        if isinstance(obj, _RUNTIME_TYPES):
            return (_none, ())
        if isinstance(obj, dict) and type(obj) is not dict and type(obj).__module__.startswith("moto."):
            return (_moto_dict, (type(obj), dict(getattr(obj, "__dict__", {})), list(dict.items(obj))))
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, store: "StateStore", eager: dict[int, Any] | None = None):
        super().__init__(file)
        self.store = store
        self.classes = {name: cls for cls, name in store.bound_classes().items()}
        self.eager = eager

    def persistent_load(self, pid: Any) -> Any:
        kind, name = pid[0], pid[1]
        if kind == "eager" and self.eager is not None:
            return self.eager[name]
        if kind == "blob":
            return self.store.read_blob(name)
        if kind == "class":
            if name not in self.classes:
                raise StateError(f"the snapshot holds a {name} that this local cloud does not provide")
            return self.classes[name]
        if kind == "backends":
            return backend_dict(name)
        if kind == "account_backends":
            return backend_dict(name)[pid[2]]
        raise StateError(f"unknown reference {pid!r} in the snapshot")


def backend_kind(registry: Any) -> str:
    """A BackendDict (or one account's part of it) by its backend class: two of moto's may share a service name."""
    return f"{registry.backend.__module__}:{registry.backend.__qualname__}"


def backend_dict(kind: str) -> Any:
    """The live BackendDict of `kind` (see backend_kind)."""
    import importlib

    from moto.core.base_backend import BackendDict
    module, _, name = kind.partition(":")
    found = [value for value in vars(importlib.import_module(module)).values()
             if isinstance(value, BackendDict) and value.backend.__qualname__ == name]
    if len(found) != 1:
        raise StateError(f"moto's {kind} has no single registry of backends to restore into")
    return found[0]


class StateStore:
    """The snapshot of one cloud's state folder: load it at start, save it while the cloud runs."""

    def __init__(self, cloud: "LocalCloud"):
        self.cloud = cloud
        self.folder = cloud.state_dir / "state"
        self.blob_dir = self.folder / "blobs"
        self.interval = float(cloud.settings.get("persist_interval_s", DEFAULT_INTERVAL_S))
        self.enabled = bool(cloud.settings.get("persist", True))
        self._dirty = False
        self._busy = 0
        # Changes counted, and the count the last snapshot holds: what a caller waits on to know a write is kept.
        self.changes = 0
        self.saved_changes = 0
        # When the state the last snapshot holds was taken: background work (a stage running) counts no change.
        self.saved_at = 0.0
        self._digest: str | None = None
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.save_seconds: list[float] = []
        # The lazy part of the loaded snapshot, until it is loaded: (its pickle, the eager part's objects by place).
        self.lazy_pending: tuple[bytes, dict[int, Any]] | None = None

    # What to save.
    def bound_classes(self) -> dict[type, str]:
        found: dict[type, str] = {}
        for service in self.cloud.running_services():
            found.update(service.persistent_classes())
        return found

    def changed(self) -> None:
        """Something the cloud keeps changed: the next interval saves it."""
        self.changes += 1
        self._dirty = True

    def busy(self, delta: int) -> None:
        """Background work started (+1) or ended (-1); while any runs, every interval may have changed something."""
        with self._lock:
            self._busy += delta
        self._dirty = True

    # Blobs.
    def write_blob(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()
        path = self.blob_dir / name
        if not path.exists():
            self.blob_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        return name

    def read_blob(self, name: str) -> bytes:
        try:
            return (self.blob_dir / name).read_bytes()
        except OSError as exc:
            raise StateError(f"the snapshot refers to {self.blob_dir / name}, which cannot be read ({exc})") from None

    # Loading.
    def exists(self) -> bool:
        return self.enabled and (self.folder / SNAPSHOT).is_file()

    def check_version(self) -> None:
        path = self.folder / VERSION
        expected = version_info()
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StateError(f"{self.folder} has a snapshot but no readable {VERSION} ({exc}); it cannot be "
                             f"trusted: {fresh_advice(self.cloud.state_dir)}") from None
        if found != expected:
            raise StateError(f"the state in {self.folder} was written by a different local cloud "
                             f"({describe(found)}; this one is {describe(expected)}): it is not loaded. Keep it "
                             f"with the version that wrote it, or {fresh_advice(self.cloud.state_dir)}")

    def load(self) -> dict[str, Any] | None:
        """The saved state's eager part ({"moto": {...}, "services": {...}}), or None when the folder has none; the
        lazy part waits for `load_lazy`."""
        if not self.exists():
            return None
        self.check_version()
        data = (self.folder / SNAPSHOT).read_bytes()
        try:
            eager, lazy = _split(data)
            unpickler = _Unpickler(io.BytesIO(eager), self)
            state = unpickler.load()
            self.lazy_pending = (lazy, unpickler.memo.copy())
        except StateError:
            raise
        except Exception as exc:
            raise StateError(f"the snapshot {self.folder / SNAPSHOT} cannot be loaded ({type(exc).__name__}: "
                             f"{exc}): {fresh_advice(self.cloud.state_dir)}") from None
        self._digest = hashlib.sha256(data).hexdigest()
        return state

    def load_lazy(self) -> dict[str, Any]:
        """The lazy part of the loaded snapshot (the lazy services must be installed: it holds their classes)."""
        lazy, eager = self.lazy_pending or (b"", {})
        try:
            state = _Unpickler(io.BytesIO(lazy), self, eager).load() if lazy else {"moto": {}, "services": {}}
        except Exception as exc:
            raise StateError(f"the snapshot {self.folder / SNAPSHOT} cannot be loaded ({type(exc).__name__}: "
                             f"{exc}): {fresh_advice(self.cloud.state_dir)}") from None
        self.lazy_pending = None
        return state

    # Saving.
    def save(self, force: bool = False) -> bool:
        """Write a snapshot now (unless nothing changed since the last); True when one was written."""
        with self._save_lock:
            if self.lazy_pending is not None:
                return False  # the lazy part is not back yet: the snapshot on disk is still the whole state
            self._dirty = False
            changes = self.changes
            taken_at = time.time()
            started = time.perf_counter()
            for attempt in range(5):
                try:
                    eager, lazy = self.cloud.snapshot()
                    eager_buffer, lazy_buffer = io.BytesIO(), io.BytesIO()
                    eager_pickler = _Pickler(eager_buffer, self)
                    eager_pickler.dump(eager)
                    lazy_pickler = _Pickler(lazy_buffer, self, eager_pickler.memo.copy())
                    lazy_pickler.dump(lazy)
                    break
                except RuntimeError as exc:  # a dictionary another thread changed while it was pickled
                    if attempt == 4:
                        log.warning("state not saved (it kept changing while it was written: %s)", exc)
                        self._dirty = True
                        return False
            data = _join(eager_buffer.getvalue(), lazy_buffer.getvalue())
            digest = hashlib.sha256(data).hexdigest()
            if digest == self._digest and not force:
                self.saved_changes, self.saved_at = changes, taken_at
                return False
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.folder / VERSION, json.dumps(version_info(), indent=2).encode())
            _write_atomically(self.folder / SNAPSHOT, data)
            self._digest = digest
            self.saved_changes, self.saved_at = changes, taken_at
            self._collect_blobs(eager_pickler.blobs | lazy_pickler.blobs)
            self.save_seconds.append(time.perf_counter() - started)
            return True

    def _collect_blobs(self, used: set[str]) -> None:
        if not self.blob_dir.is_dir():
            return
        for path in self.blob_dir.iterdir():
            if path.name not in used and not path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)

    def start(self) -> None:
        if not self.enabled:
            return
        self._thread = threading.Thread(target=self._loop, name="localcloud-persistence", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self._dirty or self._busy:
                try:
                    self.save()
                except Exception:
                    log.exception("saving the local cloud's state failed; the next interval tries again")

    def stop(self) -> None:
        """Stop saving in the background and write what is there now (the cloud loads a lazy part still
        waiting first, when there is something to save)."""
        if not self.enabled:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            self.save()
        except Exception:
            log.exception("saving the local cloud's state at stop failed")


def _join(eager: bytes, lazy: bytes) -> bytes:
    return len(eager).to_bytes(8, "big") + eager + lazy


def _split(data: bytes) -> tuple[bytes, bytes]:
    size = int.from_bytes(data[:8], "big")
    if len(data) < 8 + size:
        raise StateError("the snapshot is shorter than it says it is")
    return data[8:8 + size], data[8 + size:]


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def version_info() -> dict[str, Any]:
    import moto

    from mlops_workshop import __version__
    return {"format": FORMAT, "moto": moto.__version__, "mlops_workshop": __version__}


def describe(info: dict[str, Any]) -> str:
    return ", ".join(f"{key} {info.get(key, '?')}" for key in ("format", "moto", "mlops_workshop"))


def fresh_advice(state_dir: Path) -> str:
    return (f"start afresh with `mlops-workshop localcloud start --fresh --state-dir {state_dir}` "
            f"(it deletes what the folder holds)")
