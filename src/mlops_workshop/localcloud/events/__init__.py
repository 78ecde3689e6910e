"""EventBridge on the local cloud: delivery to Lambda, Step Functions and CodePipeline targets, and schedules."""
