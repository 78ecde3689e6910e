"""CodeBuild on the local cloud: builds run their buildspec's phases on the source, and zip the artifacts."""
