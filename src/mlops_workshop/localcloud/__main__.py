"""`python -m mlops_workshop.localcloud start|stop|status|serve`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from . import lifecycle
from .persistence import StateError
from .server import DEFAULT_PORT, LocalCloud


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # jsonschema (through moto's CloudFormation) builds an IRI grammar on import that costs seconds and is never used here.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    cloud = LocalCloud(args.state_dir, port=args.port, host=args.host,
                       settings=json.loads(args.settings) if args.settings else None)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        cloud.start()
    except StateError as error:
        print(f"{lifecycle.ERROR_PREFIX}{error}", flush=True)
        return 3
    logging.getLogger("mlops_workshop.localcloud").info(
        "local cloud on %s, state in %s, services: %s; installing in the background: %s", cloud.endpoint_url,
        cloud.state_dir, ", ".join(cloud.installed()) or "none", ", ".join(cloud.waiting()) or "none")
    done.wait()
    cloud.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-workshop localcloud", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from mlops_workshop.target import cloud_dir
    for name in ("start", "stop", "status", "serve"):
        p = sub.add_parser(name)
        p.add_argument("--state-dir", default=str(cloud_dir()),
                       help="the local cloud's own folder (default .state/localcloud at the repository root)")
        if name == "start":
            p.add_argument("--fresh", action="store_true",
                           help="throw away what the state folder keeps (buckets, stacks, runs) and start empty")
        if name in ("start", "serve"):
            p.add_argument("--port", type=int, default=DEFAULT_PORT)
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--settings", help="JSON settings for the services")
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "start":
            state = lifecycle.start(args.state_dir, port=args.port, host=args.host, fresh=args.fresh,
                                    settings=json.loads(args.settings) if args.settings else None)
            for left in state.get("reaped") or []:
                print(f"ended {left}, which a local cloud that stopped left running")
            print(f"local cloud running at {state['endpoint']} (pid {state['pid']}), state in {state['state_dir']}")
            print(f"  export AWS_ENDPOINT_URL={state['endpoint']}")
            return 0
        if args.command == "stop":
            print("stopped" if lifecycle.stop(args.state_dir) else "no local cloud was running on this folder")
            return 0
        print(json.dumps(lifecycle.status(args.state_dir), indent=2))
        return 0
    except lifecycle.LocalCloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, lifecycle.PortInUse) else 1


if __name__ == "__main__":
    sys.exit(main())
