"""Images on the local cloud: what runs when SageMaker runs an ECR image URI (processes, or a container engine)."""
