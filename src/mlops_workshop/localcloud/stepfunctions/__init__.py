"""Step Functions on the local cloud: moto's interpreter, whose tasks reach the local cloud's services."""
