"""Glue on the local cloud: Python-shell job runs as child processes with Glue's arguments and states."""
