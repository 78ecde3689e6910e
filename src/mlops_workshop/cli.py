"""`mlops-workshop`: the workshop's command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="mlops-workshop", description=__doc__)
    parser.add_argument("command", choices=["demo", "approve", "localcloud", "benchmark", "validate", "cleanup"],
                        help="demo: run the whole pipeline on the local cloud; approve: answer a waiting approval; "
                             "localcloud: start|stop|status; "
                             "benchmark: print the speed and quality figures; validate: check the data repositories; "
                             "cleanup: delete the stacks, buckets and repositories the workshop made")
    args, rest = parser.parse_known_args(argv[:1])
    rest = argv[1:]
    if args.command == "localcloud":
        from .localcloud.__main__ import main as localcloud_main
        return localcloud_main(rest)
    if args.command == "demo":
        from .demo import main as demo_main
        return demo_main(rest)
    if args.command == "approve":
        from .approve import main as approve_main
        return approve_main(rest)
    if args.command == "cleanup":
        from .cleanup import main as cleanup_main
        return cleanup_main(rest)
    if args.command == "benchmark":
        from .benchmarks import main as benchmark_main
        return benchmark_main(rest or ["all"])
    from .repository_validation import main as validation_main
    return validation_main(rest)


if __name__ == "__main__":
    sys.exit(main())
