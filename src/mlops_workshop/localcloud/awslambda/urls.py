"""The Lambda calls the local cloud answers beyond moto (JSON-protocol calls are routed by their action)."""

url_paths = {
    r"^/2015-03-31/functions/?$": {"POST": "CreateFunction"},
    r"^/2015-03-31/functions/(?P<name>[^/]+)/code/?$": {"PUT": "UpdateFunctionCode"},
    r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$": {"POST": "Invoke"},
    r"^/2014-11-13/functions/(?P<name>[^/]+)/invoke-async/?$": {"POST": "InvokeAsync"},
}
