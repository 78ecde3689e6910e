"""A function sees its package, its layers and its runtime's boto3, on the runtime's Python, and nothing of the
project's environment: an import of what was not packaged fails with Lambda's Runtime.ImportModuleError."""

import base64
import json
import os
import sys

from testkit.localcloud import ROLE_ARN, zip_of

from mlops_workshop.localcloud import pythons


def payload_of(response):
    return json.loads(response["Payload"].read())


LOOKS_AROUND = '''
import importlib.util, json, os, sys
import boto3, botocore

def lambda_handler(event, context):
    return {
        "path": sys.path,
        "environ": dict(os.environ),
        "executable": sys.executable,
        "version": "%d.%d" % sys.version_info[:2],
        "boto3": [boto3.__version__, boto3.__file__],
        "botocore": botocore.__version__,
        "finds": {name: importlib.util.find_spec(name) is not None
                  for name in ("mlops_workshop", "moto", "sklearn", "numpy", "pytest")},
    }
'''


def test_an_import_of_a_package_that_was_not_packaged_fails_as_in_an_account(cloud, clients, make_function):
    # scikit-learn is installed where the local cloud runs: a function must not see it.
    make_function("needs-sklearn", "import sklearn\n\ndef lambda_handler(event, context):\n    return 1\n")
    response = clients("lambda").invoke(FunctionName="needs-sklearn", LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = payload_of(response)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'lambda': No module named 'sklearn'"
    logs = base64.b64decode(response["LogResult"]).decode()
    assert "Runtime.ImportModuleError: Unable to import module 'lambda': No module named 'sklearn'" in logs
    assert "No module named 'sklearn'" in cloud.log_path("lambda", "needs-sklearn").read_text()


def test_nothing_of_the_projects_environment_reaches_a_function(cloud, clients, make_function, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    monkeypatch.setenv("LEAKED_SETTING", "from the local cloud's process")
    make_function("looks-around", LOOKS_AROUND, Timeout=10)
    seen = payload_of(clients("lambda").invoke(FunctionName="looks-around"))
    assert seen["finds"] == {"mlops_workshop": False, "moto": False, "sklearn": False, "numpy": False,
                             "pytest": False}
    assert "PYTHONPATH" not in seen["environ"] and "LEAKED_SETTING" not in seen["environ"]
    assert not any("site-packages" in p and "lambda" not in p for p in seen["path"]), seen["path"]
    assert not any(p.endswith(os.sep + "src") for p in seen["path"])
    environ = seen["environ"]
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == "looks-around" and environ["_HANDLER"] == "lambda.lambda_handler"
    assert environ["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128" and environ["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environ["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/looks-around"
    assert environ["AWS_REGION"] == "us-east-1" and environ["AWS_SESSION_TOKEN"]
    assert environ["AWS_ACCESS_KEY_ID"] != "localcloud", "a function signs with its role, not as the administrator"
    task_root = seen["environ"]["LAMBDA_TASK_ROOT"]
    assert seen["path"][0] == task_root
    assert seen["path"][-1] == seen["environ"]["LAMBDA_RUNTIME_DIR"]


def test_boto3_is_the_runtimes_and_the_log_says_which_python_runs(cloud, clients, make_function):
    make_function("looks-around", LOOKS_AROUND, Timeout=10)
    response = clients("lambda").invoke(FunctionName="looks-around", LogType="Tail")
    seen = payload_of(response)
    runtime = cloud.service("lambda").executor.runtime("python3.12")
    assert seen["boto3"][0] == runtime.sdk["boto3"] and seen["botocore"] == runtime.sdk["botocore"]
    assert seen["boto3"][1].startswith(str(runtime.sdk_dir))
    python = pythons.interpreter("3.12")
    assert seen["executable"] == python.path
    assert seen["version"] == python.version
    logs = base64.b64decode(response["LogResult"]).decode()
    assert "INIT_START Runtime Version: python:3.12" in logs
    assert python.describe() in logs and f"boto3 {runtime.sdk['boto3']}" in logs


def test_a_layers_packages_import_from_where_lambda_puts_them(clients, make_function):
    lam = clients("lambda")
    first = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": zip_of({
        "python/shared_code/__init__.py": "WHERE = 'python/'\n",
        "python/lib/python3.12/site-packages/vendored.py": "WHERE = 'site-packages/'\n",
        "python/overridden.py": "WHERE = 'first layer'\n"})}, CompatibleRuntimes=["python3.12"])
    second = lam.publish_layer_version(LayerName="override", Content={"ZipFile": zip_of({
        "python/overridden.py": "WHERE = 'second layer'\n"})}, CompatibleRuntimes=["python3.12"])
    code = '''
import overridden, shared_code, vendored

def lambda_handler(event, context):
    return [shared_code.WHERE, vendored.WHERE, overridden.WHERE]
'''
    make_function("layered", code, Layers=[first["LayerVersionArn"], second["LayerVersionArn"]])
    response = lam.invoke(FunctionName="layered")
    assert "FunctionError" not in response, payload_of(response)
    assert payload_of(response) == ["python/", "site-packages/", "second layer"]

    make_function("unlayered", code)
    assert payload_of(lam.invoke(FunctionName="unlayered"))["errorType"] == "Runtime.ImportModuleError"


def test_a_package_that_brings_its_own_boto3_uses_it(clients, make_function):
    code = "import boto3\n\ndef lambda_handler(event, context):\n    return boto3.__version__\n"
    lam = clients("lambda")
    # make_function made the role; this package holds more than lambda.py.
    lam.create_function(FunctionName="own-boto3", Runtime="python3.12", Role=ROLE_ARN, Handler="lambda.lambda_handler",
                        Code={"ZipFile": zip_of({"lambda.py": code,
                                                 "boto3/__init__.py": "__version__ = 'packaged'\n"})})
    assert payload_of(lam.invoke(FunctionName="own-boto3")) == "packaged"


def test_a_python39_function_runs_on_python39_where_the_machine_has_it(clients, make_function):
    code = ("import sys\n\ndef lambda_handler(event, context):\n"
            "    if event.get('fail'):\n        raise KeyError('asked to fail')\n"
            "    return '%d.%d' % sys.version_info[:2]\n")
    make_function("older", code, Runtime="python3.9")
    lam = clients("lambda")
    assert payload_of(lam.invoke(FunctionName="older")) == pythons.interpreter("3.9").version
    failed = lam.invoke(FunctionName="older", Payload=b'{"fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    assert payload_of(failed)["errorType"] == "KeyError"
