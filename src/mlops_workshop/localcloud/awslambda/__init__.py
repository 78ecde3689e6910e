"""Lambda on the local cloud: functions' code packages run in execution environments (child processes)."""
