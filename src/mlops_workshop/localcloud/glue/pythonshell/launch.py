"""Glue's Python shell, run as `python -I -S launch.py LAYOUT SCRIPT ARGS...`: the script runs as __main__ with
sys.argv = [SCRIPT, ARGS...] and Glue's sys.path (LAYOUT, a JSON file): the script's folder, --extra-py-files and
--additional-python-modules, the standard library, then what Glue provides (its library set, awsglue). Isolated
(-I) and without site-packages (-S), nothing of the local cloud's own environment is on it."""

import json
import os
import runpy
import sys


def main(argv):
    layout_file, script = argv[1], argv[2]
    with open(layout_file) as opened:
        layout = json.load(opened)
    standard = [path for path in sys.path if path]
    sys.path[:] = [os.path.dirname(os.path.abspath(script))] + layout["before"] + standard + layout["after"]
    sys.argv = [script] + argv[3:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv)
