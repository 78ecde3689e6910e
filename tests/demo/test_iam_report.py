"""`mlops-workshop iam-report`: the roles of the stacks, what each used, never used and was denied, from the decision
log; the notes a template gives its statements; the command's one-line errors."""

import json

import boto3
from botocore.config import Config

from mlops_workshop import cli, iam_report, template_roles
from mlops_workshop.target import CloudSession
from testkit.localcloud import ACCOUNT, REGION
from testkit.waiting import wait_for

BUCKET = "report-data"
TEMPLATE = f'''
Resources:
  Worker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: report-worker
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{{Effect: Allow, Principal: {{Service: lambda.amazonaws.com}}, Action: sts:AssumeRole}}]
      Policies:
        - PolicyName: work
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Sid: Read
                Effect: Allow
                Action: [s3:GetObject, s3:GetObjectVersion]
                Resource: arn:aws:s3:::{BUCKET}/*
              # In an account only: a reader
              # over two lines.
              - Sid: Elsewhere
                Effect: Allow
                Action: s3:GetBucketLocation
                Resource: arn:aws:s3:::{BUCKET}
'''


def test_a_statements_note_is_read_from_the_comment_above_it():
    found = {s.sid: s for s in template_roles.statements(TEMPLATE, "report")}
    assert (found["Read"].note_kind, found["Read"].actions) == ("", ["s3:GetObject", "s3:GetObjectVersion"])
    assert (found["Elsewhere"].note_kind, found["Elsewhere"].note) == ("in an account only", "a reader over two lines.")
    assert found["Elsewhere"].id == "report:Worker/work/Elsewhere"
    without = json.loads(template_roles.without(TEMPLATE, found["Read"]))
    assert [s["Sid"] for s in without["Resources"]["Worker"]["Properties"]["Policies"][0]["PolicyDocument"]
            ["Statement"]] == ["Elsewhere"]


def test_the_projects_templates_note_why_each_unused_statement_is_kept():
    noted = [s for s in template_roles.template_statements() if s.note_kind]
    assert {s.note_kind for s in noted} == {"in an account only", "not in every run"}
    assert all(s.note and not s.note.startswith("#") for s in noted)


def test_the_report_shows_what_the_role_used_never_used_and_was_denied(cloud, clients, tmp_path):
    clients("s3").create_bucket(Bucket=BUCKET)
    clients("s3").put_object(Bucket=BUCKET, Key="in/data.csv", Body=b"1")
    cfn = clients("cloudformation")
    cfn.create_stack(StackName="report", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_NAMED_IAM"])
    wait_for(lambda: cfn.describe_stacks(StackName="report")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE",
             60, 0.2, "the stack")
    credentials = cloud.service("iam").credentials_for(f"arn:aws:iam::{ACCOUNT}:role/report-worker",
                                                       "lambda.amazonaws.com")
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint_url, region_name=REGION,
                      aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                      aws_session_token=credentials["AWS_SESSION_TOKEN"], config=Config(retries={"max_attempts": 1}))
    s3.get_object(Bucket=BUCKET, Key="in/data.csv")
    try:
        s3.put_object(Bucket=BUCKET, Key="in/other.csv", Body=b"2")
    except s3.exceptions.ClientError:
        pass

    cloud.service("iam").log.flush()   # a daemon writes its decisions every second
    [role] = iam_report.build_report(CloudSession(cloud.endpoint_url), tmp_path)
    assert (role.role, role.stack, role.logical_id) == ("report-worker", "report", "Worker")
    assert role.used == {"s3:GetObject": 1}
    assert [(g.statement, g.action, g.note) for g in role.unused] == [
        ("Read", "s3:GetObjectVersion", ""),
        ("Elsewhere", "s3:GetBucketLocation", "in an account only: a reader over two lines.")]
    assert [(d["action"], d["resource"], d["calls"]) for d in role.denied] == [
        ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/in/other.csv", 1)]
    text = iam_report.text([role])
    assert text.startswith("Role report-worker (stack report, Worker): ")
    assert "  unused  work/Elsewhere: s3:GetBucketLocation on arn:aws:s3:::report-data  (in an account only: a " \
           "reader over two lines.)" in text
    assert f"  denied  s3:PutObject on arn:aws:s3:::{BUCKET}/in/other.csv (1 call(s))" in text


def test_a_state_folder_without_a_decision_log_is_refused_in_one_line(tmp_path, capsys):
    assert cli.main(["iam-report", "--state-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no decision log in ") and error.count("\n") == 1
