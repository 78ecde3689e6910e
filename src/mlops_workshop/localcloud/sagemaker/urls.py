"""The SageMaker calls the local cloud answers beyond moto: SageMaker Runtime's InvokeEndpoint (a REST path)."""

url_paths = {
    r"^/endpoints/(?P<name>[^/]+)/invocations$": {"POST": "InvokeEndpoint"},
}
