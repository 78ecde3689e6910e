"""IAM on the local cloud: every call judged as AWS's IAM judges it, with AWS's refusals (see service.py)."""
