"""A Glue run sees what Glue's Python shell provides (Python 3.9 where the machine has it, its library set, awsglue,
--extra-py-files, --additional-python-modules) and nothing of the local cloud's environment, and acts as its role."""

import base64
import hashlib
import json

import pytest
from testkit.localcloud import ACCOUNT, trust, zip_of
from testkit.waiting import wait_for

from mlops_workshop.localcloud import pythons
from mlops_workshop.localcloud.glue.environment import ANALYTICS_CORE

SCRIPTS, DATA = "pythonshell-scripts", "pythonshell-data"
ROLE = "pythonshell-glue"

REPORTS = '''
import importlib.util, json, os, sys
import boto3
from awsglue.utils import getResolvedOptions

args = getResolvedOptions(sys.argv, ["JOB_NAME", "OUTPUT_BUCKET"])
found = {name: importlib.util.find_spec(name) is not None
         for name in ("mlops_workshop", "moto", "pytest", "numpy", "pandas", "sklearn", "scipy")}
versions = {}
for name in ("numpy", "pandas", "sklearn", "scipy"):
    if found[name]:
        versions[name] = __import__(name).__version__
report = {"args": args, "found": found, "versions": versions, "version": "%d.%d" % sys.version_info[:2],
          "executable": sys.executable, "path": sys.path, "token": bool(os.environ.get("AWS_SESSION_TOKEN")),
          "caller": boto3.client("sts").get_caller_identity()["Arn"], "pythonpath": os.environ.get("PYTHONPATH")}
boto3.client("s3").put_object(Bucket=args["OUTPUT_BUCKET"], Key="report.json", Body=json.dumps(report))
'''


@pytest.fixture
def cloud_settings():
    return {"glue_timeout_minute_s": 1}


@pytest.fixture
def job(clients):
    """job(name, script, arguments, script_access=True) creates a Python-shell job whose role reads the scripts and
    writes the data bucket (and may read the script itself only when script_access)."""
    s3, iam = clients("s3"), clients("iam")
    for bucket in (SCRIPTS, DATA):
        s3.create_bucket(Bucket=bucket)
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=trust("glue.amazonaws.com"))

    def make(name, script, arguments=None, script_access=True):
        scripts = f"arn:aws:s3:::{SCRIPTS}/*" if script_access else f"arn:aws:s3:::{SCRIPTS}/libraries/*"
        iam.put_role_policy(RoleName=ROLE, PolicyName="run", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": scripts},
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{DATA}/*"}]}))
        s3.put_object(Bucket=SCRIPTS, Key=f"{name}.py", Body=script)
        clients("glue").create_job(Name=name, Role=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}", GlueVersion="3.0",
                                   Command={"Name": "pythonshell", "PythonVersion": "3.9",
                                            "ScriptLocation": f"s3://{SCRIPTS}/{name}.py"},
                                   DefaultArguments={"--OUTPUT_BUCKET": DATA, **(arguments or {})})
        return name
    return make


def run(clients, name, timeout=600):
    glue = clients("glue")
    run_id = glue.start_job_run(JobName=name)["JobRunId"]

    def finished():
        found = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        return found if found["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING") else None
    # The first run on a machine installs the library set (a minute or two): later runs find it in the cache.
    return wait_for(finished, timeout, interval=0.5, what=f"run {run_id} of {name} to end")


def report(clients):
    return json.loads(clients("s3").get_object(Bucket=DATA, Key="report.json")["Body"].read())


def wheel(name, files):
    """A pure-Python wheel (what pip builds) holding these {path: text} files."""
    dist = f"{name}-1.0.dist-info"
    contents = {**files, f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
                f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    def digest(text):
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode().rstrip("=")
    record = "".join(f"{path},sha256={digest(text)},{len(text.encode())}\n" for path, text in contents.items())
    return zip_of({**contents, f"{dist}/RECORD": record + f"{dist}/RECORD,,\n"})


def test_a_run_sees_glues_python_shell_and_nothing_of_the_local_clouds(cloud, clients, job):
    job("reports", REPORTS, {"library-set": "analytics"})
    finished = run(clients, "reports")
    assert finished["JobRunState"] == "SUCCEEDED", finished.get("ErrorMessage")
    seen = report(clients)
    assert seen["found"] == {"mlops_workshop": False, "moto": False, "pytest": False, "numpy": True, "pandas": True,
                             "sklearn": True, "scipy": True}
    assert seen["pythonpath"] is None
    assert seen["args"]["JOB_NAME"] == "reports" and seen["args"]["OUTPUT_BUCKET"] == DATA
    assert seen["args"]["JOB_RUN_ID"] == finished["Id"]
    python = pythons.interpreter("3.9")
    assert seen["executable"] == python.path and seen["version"] == python.version
    if python.exact:  # Glue's own versions, where they install on this Python
        documented = dict(ANALYTICS_CORE)
        assert seen["versions"] == {"numpy": documented["numpy"], "pandas": documented["pandas"],
                                    "sklearn": documented["scikit-learn"], "scipy": documented["scipy"]}
    log_text = cloud.log_path("glue", finished["Id"]).read_text()
    assert f"[localcloud] Python shell: {python.describe()}" in log_text
    assert "[localcloud] library set analytics: " in log_text


def test_without_the_analytics_set_only_boto3_is_there(clients, job):
    job("bare", "import boto3\nimport pandas\n")
    finished = run(clients, "bare")
    assert finished["JobRunState"] == "FAILED"
    assert finished["ErrorMessage"] == "ModuleNotFoundError: No module named 'pandas'"


def test_a_run_acts_as_its_role(clients, job):
    job("reports", REPORTS)
    assert run(clients, "reports")["JobRunState"] == "SUCCEEDED"
    seen = report(clients)
    assert seen["token"] is True
    assert seen["caller"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/GlueJobRunnerSession"


def test_a_script_the_role_may_not_read_fails_the_run_with_the_refusal(clients, job):
    job("hidden", "print('never runs')\n", script_access=False)
    finished = run(clients, "hidden")
    assert finished["JobRunState"] == "FAILED"
    message = finished["ErrorMessage"]
    assert message.startswith(f"s3://{SCRIPTS}/hidden.py: User: arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/"
                              "GlueJobRunnerSession is not authorized to perform: s3:GetObject")
    assert "(Service: Amazon S3; Status Code: 403; Error Code: AccessDenied;" in message


def test_extra_py_files_put_a_module_a_zip_and_a_wheel_on_the_path(clients, job):
    s3 = clients("s3")
    s3.put_object(Bucket=SCRIPTS, Key="libraries/helper.py", Body="WHERE = 'a .py file'\n")
    s3.put_object(Bucket=SCRIPTS, Key="libraries/zipped.zip", Body=zip_of({"zipped/__init__.py": "WHERE = 'a zip'\n"}))
    s3.put_object(Bucket=SCRIPTS, Key="libraries/wheeled-1.0-py3-none-any.whl",
                  Body=wheel("wheeled", {"wheeled/__init__.py": "WHERE = 'a wheel'\n"}))
    script = ("import sys, boto3, helper, zipped, wheeled\nfrom awsglue.utils import getResolvedOptions\n"
              "args = getResolvedOptions(sys.argv, ['OUTPUT_BUCKET'])\n"
              "boto3.client('s3').put_object(Bucket=args['OUTPUT_BUCKET'], Key='report.json', "
              "Body='\"' + ', '.join([helper.WHERE, zipped.WHERE, wheeled.WHERE]) + '\"')\n")
    paths = ",".join(f"s3://{SCRIPTS}/libraries/{name}" for name in
                     ("helper.py", "zipped.zip", "wheeled-1.0-py3-none-any.whl"))
    job("extra", script, {"--extra-py-files": paths})
    finished = run(clients, "extra")
    assert finished["JobRunState"] == "SUCCEEDED", finished.get("ErrorMessage")
    assert report(clients) == "a .py file, a zip, a wheel"

    job("egg", "print(1)\n", {"--extra-py-files": f"s3://{SCRIPTS}/libraries/old.egg"})
    failed = run(clients, "egg")
    assert failed["JobRunState"] == "FAILED" and "take no .egg files" in failed["ErrorMessage"]


def test_additional_python_modules_install_from_pypi_and_s3_wheels(clients, job):
    clients("s3").put_object(Bucket=SCRIPTS, Key="libraries/extra_tool-1.0-py3-none-any.whl",
                             Body=wheel("extra_tool", {"extra_tool.py": "WHERE = 'an S3 wheel'\n"}))
    script = ("import sys, boto3, extra_tool, tomli\nfrom awsglue.utils import getResolvedOptions\n"
              "args = getResolvedOptions(sys.argv, ['OUTPUT_BUCKET'])\n"
              "boto3.client('s3').put_object(Bucket=args['OUTPUT_BUCKET'], Key='report.json', "
              "Body='[\"' + extra_tool.WHERE + '\", \"' + tomli.__name__ + '\"]')\n")
    modules = f"tomli==2.0.1,s3://{SCRIPTS}/libraries/extra_tool-1.0-py3-none-any.whl"
    job("modules", script, {"--additional-python-modules": modules})
    finished = run(clients, "modules")
    assert finished["JobRunState"] == "SUCCEEDED", finished.get("ErrorMessage")
    assert report(clients) == ["an S3 wheel", "tomli"]

    job("bad-option", "print(1)\n", {"--additional-python-modules": "tomli==2.0.1",
                                     "--python-modules-installer-option": "--no-such-pip-option"})
    failed = run(clients, "bad-option")
    assert failed["JobRunState"] == "FAILED"
    assert failed["ErrorMessage"].startswith("Installation of Python modules failed")
