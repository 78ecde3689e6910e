"""Helpers the test suites share, imported by name (`from testkit.waiting import wait_for`); pytest puts tests/ on sys.path."""
