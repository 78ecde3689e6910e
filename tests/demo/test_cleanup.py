"""`mlops_workshop.cleanup` on a stack that refuses to go: it stops there, says why, and deletes nothing after it."""

import json
import types

from mlops_workshop import cleanup
from mlops_workshop.config import WorkshopNames

# Succeeds on Create; on Delete answers FAILED with a reason, as a model registry in use would.
STUBBORN = '''
import json, urllib.request

def lambda_handler(event, context):
    failed = event["RequestType"] == "Delete"
    body = json.dumps({"Status": "FAILED" if failed else "SUCCESS", "Reason": "endpoint abalone-prd is in use",
                       "PhysicalResourceId": "stubborn", "StackId": event["StackId"], "RequestId": event["RequestId"],
                       "LogicalResourceId": event["LogicalResourceId"], "Data": {}}).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=10).read()
'''

PARAMETER = {"Resources": {"Value": {"Type": "AWS::SSM::Parameter",
                                     "Properties": {"Name": "/cleanup/kept", "Type": "String", "Value": "x"}}}}


def test_a_stack_that_cannot_be_deleted_stops_cleanup_with_its_reason(aws):
    names = WorkshopNames(pipeline_stack_name="cleanup-test")
    token = aws.function("stubborn", STUBBORN)
    template = {"Resources": {"Thing": {"Type": "Custom::Thing", "Properties": {"ServiceToken": token}}}}
    aws.cfn.create_stack(StackName="cleanup-test-deploy-prd", TemplateBody=json.dumps(template))
    aws.cfn.create_stack(StackName="cleanup-test", TemplateBody=json.dumps(PARAMETER))
    assert aws.stack_done("cleanup-test-deploy-prd")["StackStatus"] == "CREATE_COMPLETE"
    assert aws.stack_done("cleanup-test")["StackStatus"] == "CREATE_COMPLETE"

    lines = []
    session = types.SimpleNamespace(client=aws.clients)
    assert cleanup.cleanup(session, names, keep_data=True, timeout=60, progress=lines.append) is False
    assert len(lines) == 1 and "stack cleanup-test-deploy-prd" in lines[0] and "FAILED" in lines[0]
    assert "DELETE_FAILED" in lines[0] and "endpoint abalone-prd is in use" in lines[0]
    assert "run cleanup again" in lines[0]
    # The pipeline stack made the others' roles: it stays until they are gone.
    assert aws.stack_done("cleanup-test")["StackStatus"] == "CREATE_COMPLETE"


def test_nothing_there_is_nothing_to_do(aws):
    lines = []
    session = types.SimpleNamespace(client=aws.clients)
    names = WorkshopNames(pipeline_stack_name="never-made", model_name="never", image_repo_name="never",
                          code_repo_name="never", account="000000000000")
    assert cleanup.cleanup(session, names, timeout=10, progress=lines.append) is True
    assert len(lines) == 8 and all(" absent " in line for line in lines), lines
