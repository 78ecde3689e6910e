"""SageMaker on the local cloud: training jobs and endpoints run the image's `train` and `serve`."""
