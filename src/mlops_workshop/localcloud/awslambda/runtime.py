"""The Lambda Python runtime, run as a script in a child process: one execution environment of a function.

`python -I -S runtime.py CODE_DIR HANDLER CONTROL_FD OPT_DIR`, with the function's environment. Isolated (-I: no
PYTHONPATH, no user site) and without site-packages (-S), the function sees what it sees in Lambda, in Lambda's
order: its package (LAMBDA_TASK_ROOT), its layers as Lambda lays them out under /opt (OPT_DIR/python/lib/python3.X/
site-packages, OPT_DIR/python), the standard library, and the runtime's own boto3 and botocore (LAMBDA_RUNTIME_DIR).

It loads the handler (the init phase), says "ready" on the control pipe, then serves invocations one at a time: each
is a JSON line on stdin naming the event file, the result file and the output file (the invocation's log), and ends
with {"payload": <JSON text>} or {"error": {...}} (the payload Lambda returns for a failed invocation) in the result
file and "done" on the control pipe ("done-exit" when the environment cannot serve more). Module state survives
between invocations, as in a warm Lambda environment. Only the standard library is imported here, so a function pays
only for its own imports.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback


class LambdaContext:
    """The context object Lambda passes to a Python handler."""

    def __init__(self, request):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn = request["invoked_arn"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = json.loads(request["client_context"]) if request.get("client_context") else None
        self._deadline_ms = time.time() * 1000 + request["timeout_s"] * 1000

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


class RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = RequestIdFilter.request_id
        return True


def configure_logging():
    """Root logger as Lambda sets it up: one handler to stderr, lines tagged with the request id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                                  "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)


class LoadError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def load_handler(handler):
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise LoadError("Runtime.MalformedHandlerName",
                        f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)")
    module_name = module_name.replace("/", ".")
    try:
        # importlib, not an import statement: the workshop's modules are named lambda.py, a keyword.
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise LoadError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}") from exc
    except ImportError as exc:
        raise LoadError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    function = getattr(module, function_name, None)
    if function is None:
        raise LoadError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return function


def error_payload(error_type, message, request_id, stack=None):
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack or []}


def redirect_output(path):
    """This invocation's prints and logs go to its own output file."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def write_result(path, outcome):
    with open(path + ".tmp", "w") as out:
        json.dump(outcome, out)
    os.replace(path + ".tmp", path)


def invoke(function, request):
    """Run the handler on one event; the outcome as the result file holds it."""
    request_id = request["request_id"]
    with open(request["event_file"]) as events:
        event = json.load(events)
    try:
        result = function(event, LambdaContext(request))
    except Exception as exc:
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
        # The three-argument form: the runtime may be Python 3.9.
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        print(f"[ERROR] {type(exc).__name__}: {exc}\n" + trace,
              file=sys.stderr, flush=True)
        return {"error": error_payload(type(exc).__name__, str(exc), request_id, stack)}
    try:
        return {"payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return {"error": error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id)}


def lambda_path(code_dir, opt_dir):
    """sys.path as Lambda's Python runtime sets it: the package, the layers, the standard library, the runtime."""
    version = "python%d.%d" % sys.version_info[:2]
    layers = [os.path.join(opt_dir, "python", "lib", version, "site-packages"), os.path.join(opt_dir, "python")]
    runtime = [os.environ["LAMBDA_RUNTIME_DIR"]] if os.environ.get("LAMBDA_RUNTIME_DIR") else []
    return [code_dir] + layers + [p for p in sys.path if p and p not in (code_dir, *layers)] + runtime


def main(argv):
    code_dir, handler, control_fd, opt_dir = argv[0], argv[1], int(argv[2]), argv[3]
    sys.path[:] = lambda_path(code_dir, opt_dir)
    control = os.fdopen(control_fd, "w", buffering=1)
    configure_logging()
    function, init_error = None, None
    try:
        function = load_handler(handler)
    except LoadError as exc:
        init_error = exc
        print(f"[ERROR] {exc.error_type}: {exc}", file=sys.stderr, flush=True)
    control.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        redirect_output(request["output_file"])
        RequestIdFilter.request_id = request["request_id"]
        if init_error is not None:
            # Lambda tries the init again in a new environment on the next invocation.
            write_result(request["result_file"], {"error": error_payload(init_error.error_type, str(init_error),
                                                                         request["request_id"])})
            control.write("done-exit\n")
            return
        outcome = invoke(function, request)
        sys.stdout.flush()
        sys.stderr.flush()
        write_result(request["result_file"], outcome)
        control.write("done\n")


if __name__ == "__main__":
    main(sys.argv[1:])
