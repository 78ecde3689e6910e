"""`mlops-workshop`: the workshop's command line.

Every command ends with one line saying what went wrong and what to do, never a traceback, for a user's mistake
(exit status 2: a bad or missing file, a port in use, no AWS credentials) or a known failure (exit status 1: a
failed stage, the local cloud gone). The traceback of anything else goes to .state/logs/mlops-workshop.log;
`mlops-workshop --debug COMMAND ...` shows it instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

COMMANDS = ("demo", "approve", "localcloud", "benchmark", "validate", "cleanup", "traffic")
BAD_INPUT, FAILURE = 2, 1


class CommandError(Exception):
    """A command stops here: `message` is its one line, `code` its exit status."""

    def __init__(self, message: str, code: int = FAILURE):
        super().__init__(message)
        self.code = code


def explain(error: BaseException) -> tuple[int, str] | None:
    """The exit status and one line for a failure the workshop knows; None for a bug."""
    from botocore.exceptions import (ClientError, ConnectionClosedError, EndpointConnectionError,
                                     NoCredentialsError, PartialCredentialsError)

    from .data import DataValidationError
    from .localcloud.lifecycle import LocalCloudError, PortInUse
    from .localcloud.persistence import StateError
    from .pipeline import PipelineError
    from .target import TargetError

    if isinstance(error, CommandError):
        return error.code, str(error)
    if isinstance(error, (DataValidationError, PortInUse)):
        return BAD_INPUT, str(error)
    if isinstance(error, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)):
        if error.filename:
            return BAD_INPUT, f"{error.filename}: {error.strerror.lower() if error.strerror else error}"
        return BAD_INPUT, str(error)
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return BAD_INPUT, ("no AWS credentials found: run `aws configure` (or set AWS_PROFILE), or leave out --aws "
                           "to work on the local cloud")
    if isinstance(error, TargetError):
        return error.code, str(error)
    if isinstance(error, (LocalCloudError, StateError, PipelineError)):
        return FAILURE, str(error)
    if isinstance(error, (EndpointConnectionError, ConnectionClosedError)):
        return FAILURE, (f"the cloud stopped answering ({error}): if it is the local cloud, "
                         f"`mlops-workshop localcloud status` says why; run the command again to go on")
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return FAILURE, f"{detail.get('Code', 'Error')}: {detail.get('Message', error)}"
    return None


def _log_traceback(error: BaseException) -> str:
    from .target import DEFAULT_STATE_DIR
    path = DEFAULT_STATE_DIR / "logs" / "mlops-workshop.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as out:
        out.write("".join(traceback.format_exception(error)))
    return str(path)


def dispatch(command: str, rest: list[str]) -> int:
    if command == "localcloud":
        from .localcloud.__main__ import main as localcloud_main
        return localcloud_main(rest)
    if command == "demo":
        from .demo import main as demo_main
        return demo_main(rest)
    if command == "approve":
        from .approve import main as approve_main
        return approve_main(rest)
    if command == "cleanup":
        from .cleanup import main as cleanup_main
        return cleanup_main(rest)
    if command == "traffic":
        from .traffic import main as traffic_main
        return traffic_main(rest)
    if command == "benchmark":
        from .benchmarks import main as benchmark_main
        return benchmark_main(rest or ["all"])
    from .repository_validation import main as validation_main
    return validation_main(rest)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1]
    if debug:
        argv = argv[1:]
        logging.basicConfig(level=logging.DEBUG)
    parser = argparse.ArgumentParser(prog="mlops-workshop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (before the command)")
    parser.add_argument("command", choices=COMMANDS,
                        help="demo: run the whole pipeline on the local cloud; approve: answer a waiting approval; "
                             "localcloud: start|stop|status; "
                             "benchmark: print the speed and quality figures; validate: check the data repositories; "
                             "cleanup: delete the stacks, buckets and repositories the workshop made; "
                             "traffic: send test rows (or drifted ones) to an endpoint")
    args = parser.parse_args(argv[:1])
    try:
        return dispatch(args.command, argv[1:])
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        known = explain(error)
        if known is None:
            where = _log_traceback(error)
            print(f"error: {type(error).__name__}: {error} (a bug of the workshop: the traceback is in {where}; "
                  f"`mlops-workshop --debug {args.command} ...` shows it)", file=sys.stderr)
            return FAILURE
        code, message = known
        print(f"error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
