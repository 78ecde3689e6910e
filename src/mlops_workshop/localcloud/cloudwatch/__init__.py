"""CloudWatch on the local cloud: alarms evaluated as CloudWatch evaluates them, with their state changes' history
and events."""
