"""CodePipeline on the local cloud: an engine that runs pipelines' stages and actions."""
