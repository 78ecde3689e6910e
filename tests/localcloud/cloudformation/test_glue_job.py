"""AWS::Glue::Job in a stack (moto's CloudFormation has no Glue types): made with CreateJob under the name
CloudFormation draws, Ref its name, updated in place with UpdateJob, replaced for a new Name, deleted with the stack."""

import json

from testkit.localcloud import ACCOUNT

ROLE = f"arn:aws:iam::{ACCOUNT}:role/glue-etl"
JOB = {"Type": "AWS::Glue::Job", "Properties": {
    "Role": ROLE, "GlueVersion": "3.0", "MaxCapacity": "0.0625", "Timeout": 30, "MaxRetries": "1",
    "Command": {"Name": "pythonshell", "PythonVersion": "3.9", "ScriptLocation": "s3://scripts/etl.py"},
    "DefaultArguments": {"--day": "1"}, "ExecutionProperty": {"MaxConcurrentRuns": "2"},
    "Tags": {"team": "data"}}}


def template(job):
    return json.dumps({"Resources": {"Etl": job}, "Outputs": {"Job": {"Value": {"Ref": "Etl"}}}})


def job_output(aws, name):
    stack = aws.stack_done(name)
    assert stack["StackStatus"].endswith("_COMPLETE") and "ROLLBACK" not in stack["StackStatus"], aws.events(name)
    return stack["Outputs"][0]["OutputValue"]


def test_a_glue_job_stack_makes_updates_replaces_and_deletes_the_job(aws):
    glue = aws.clients("glue")
    stack_id = aws.cfn.create_stack(StackName="etl", TemplateBody=template(JOB))["StackId"]
    name = job_output(aws, "etl")
    assert name.startswith("etl-Etl-")
    job = glue.get_job(JobName=name)["Job"]
    assert (job["Role"], job["GlueVersion"], job["MaxCapacity"], job["Timeout"], job["MaxRetries"]) == (
        ROLE, "3.0", 0.0625, 30, 1)
    assert job["Command"] == {"Name": "pythonshell", "PythonVersion": "3.9", "ScriptLocation": "s3://scripts/etl.py"}
    assert job["DefaultArguments"] == {"--day": "1"} and job["ExecutionProperty"] == {"MaxConcurrentRuns": 2}
    assert glue.get_tags(ResourceArn=f"arn:aws:glue:us-east-1:{ACCOUNT}:job/{name}")["Tags"] == {"team": "data"}

    changed = json.loads(json.dumps(JOB))
    changed["Properties"].update(Description="daily rows", DefaultArguments={"--day": "2"})
    aws.cfn.update_stack(StackName="etl", TemplateBody=template(changed))
    assert job_output(aws, "etl") == name   # in place
    job = glue.get_job(JobName=name)["Job"]
    assert (job["Description"], job["DefaultArguments"]) == ("daily rows", {"--day": "2"})

    changed["Properties"]["Name"] = "etl-named"
    aws.cfn.update_stack(StackName="etl", TemplateBody=template(changed))
    assert job_output(aws, "etl") == "etl-named"
    assert glue.get_job(JobName="etl-named")["Job"]["Description"] == "daily rows"
    assert glue.list_jobs()["JobNames"] == ["etl-named"]   # the replaced job is deleted

    aws.cfn.delete_stack(StackName="etl")
    assert aws.stack_done(stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert glue.list_jobs()["JobNames"] == []
