"""IAM enforced on a running local cloud: boto3 clients signed by a role's session get exactly the role's policy, and
a refusal in the call's own protocol, as botocore parses AWS's (code, HTTP status, message)."""

import base64
import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops_workshop.localcloud.iam.exceptions import AssumeRoleRefused
from testkit.localcloud import FAKE_IMAGE

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "iam-test-artifacts"


def trust(*services, account=False, condition=None):
    principal = {"Service": list(services)} if services else {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if account and services:
        statement["Principal"]["AWS"] = f"arn:aws:iam::{ACCOUNT}:root"
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def document(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def iam(cloud):
    return cloud.service("iam")


@pytest.fixture
def role(clients, iam):
    """role(name, *statements, trusted=("lambda.amazonaws.com",)) -> (role ARN, a boto3 session of it)."""
    admin = clients("iam")

    def make(name, *statements, trusted=("lambda.amazonaws.com",), session_name="test"):
        arn = admin.create_role(RoleName=name, AssumeRolePolicyDocument=trust(*trusted))["Role"]["Arn"]
        if statements:
            admin.put_role_policy(RoleName=name, PolicyName="policy", PolicyDocument=document(*statements))
        credentials = iam.credentials_for(arn, service=trusted[0], session_name=session_name)
        session = boto3.session.Session(aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                                        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                                        aws_session_token=credentials["AWS_SESSION_TOKEN"], region_name=REGION)
        return arn, session
    return make


def client_of(cloud, session, service):
    return session.client(service, endpoint_url=cloud.endpoint_url,
                          config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def refusal(call):
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"].get("Message", "")


@pytest.fixture
def bucket(clients):
    s3 = clients("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="e1/code/preprocess.py", Body=b"print(1)")
    s3.put_object(Bucket=BUCKET, Key="e1/input/train.csv", Body=b"1,2")
    return BUCKET


def test_the_administrator_is_allowed_everything_as_before(clients, iam, bucket):
    assert clients("s3").get_object(Bucket=bucket, Key="e1/input/train.csv")["Body"].read() == b"1,2"
    clients("sagemaker").list_training_jobs()
    logged = iam.decisions("localcloud")
    assert {"action": "s3:GetObject", "resource": f"arn:aws:s3:::{bucket}/e1/input/train.csv", "allowed": True,
            "kind": "administrator"}.items() <= logged[-3].items() or any(
        d["action"] == "s3:GetObject" and d["allowed"] for d in logged)


def test_a_role_session_gets_exactly_its_policy(cloud, role, bucket):
    arn, session = role("iam-test-glue", {"Effect": "Allow", "Action": "s3:GetObject",
                                          "Resource": f"arn:aws:s3:::{bucket}/*/code/*"},
                        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*/input/*"})
    s3 = client_of(cloud, session, "s3")
    assert s3.get_object(Bucket=bucket, Key="e1/code/preprocess.py")["Body"].read() == b"print(1)"
    s3.put_object(Bucket=bucket, Key="e1/input/test.csv", Body=b"3,4")
    code, status, message = refusal(lambda: s3.get_object(Bucket=bucket, Key="e1/input/train.csv"))
    assert (code, status) == ("AccessDenied", 403)
    assert message == (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/iam-test-glue/test is not authorized to perform: "
                       f's3:GetObject on resource: "arn:aws:s3:::{bucket}/e1/input/train.csv" because no '
                       "identity-based policy allows the s3:GetObject action")
    code, status, message = refusal(lambda: s3.list_objects_v2(Bucket=bucket))
    assert "s3:ListBucket" in message and f'"arn:aws:s3:::{bucket}"' in message


def test_a_head_is_refused_with_its_status_only(cloud, role, bucket):
    _, session = role("iam-test-head")
    code, status, _ = refusal(lambda: client_of(cloud, session, "s3").head_object(Bucket=bucket,
                                                                                  Key="e1/input/train.csv"))
    assert (code, status) == ("403", 403)   # what botocore makes of AWS's bodiless 403


@pytest.mark.parametrize("signature", ["s3", "s3v4"])
def test_a_presigned_url_is_judged_as_its_signer(cloud, role, bucket, signature):
    _, session = role(f"iam-test-presign-{signature}", {"Effect": "Allow", "Action": "s3:GetObject",
                                                        "Resource": f"arn:aws:s3:::{bucket}/e1/code/*"})
    s3 = session.client("s3", endpoint_url=cloud.endpoint_url, config=Config(signature_version=signature))
    allowed = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e1/code/preprocess.py"})
    with urllib.request.urlopen(allowed, timeout=10) as response:
        assert response.read() == b"print(1)"
    refused = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e1/input/train.csv"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(refused, timeout=10)
    assert caught.value.code == 403 and b"<Code>AccessDenied</Code>" in caught.value.read()


@pytest.mark.parametrize("signature", ["s3", "s3v4"])
def test_a_presigned_post_form_is_judged_as_its_signer(cloud, clients, bucket, signature):
    import requests
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint_url, region_name=REGION, aws_access_key_id="testing",
                      aws_secret_access_key="testing", config=Config(signature_version=signature))
    form = s3.generate_presigned_post(bucket, "uploads/form.txt")
    posted = requests.post(form["url"], data=form["fields"], files={"file": ("form.txt", b"from a form")}, timeout=10)
    assert posted.status_code == 204, posted.text
    assert clients("s3").get_object(Bucket=bucket, Key="uploads/form.txt")["Body"].read() == b"from a form"
    # Without the form's credential it is an anonymous upload, which the bucket does not allow.
    fields = {k: v for k, v in form["fields"].items() if k.lower() not in ("awsaccesskeyid", "x-amz-credential")}
    anonymous = requests.post(form["url"], data=fields, files={"file": ("form.txt", b"x")}, timeout=10)
    assert anonymous.status_code == 403 and "<Code>AccessDenied</Code>" in anonymous.text


def test_an_explicit_deny_answers_with_awss_wording(cloud, role, bucket):
    _, session = role("iam-test-deny", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                      {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"})
    s3 = client_of(cloud, session, "s3")
    assert refusal(lambda: s3.delete_object(Bucket=bucket, Key="e1/input/train.csv"))[2].endswith(
        "with an explicit deny in an identity-based policy")


@pytest.mark.parametrize("service, call, code, status, quoted", [
    ("sagemaker", lambda c: c.describe_training_job(TrainingJobName="mlops-abalone-1"), "AccessDeniedException",
     400, False),                                                                      # JSON 1.1
    ("glue", lambda c: c.get_job(JobName="abalone-preprocess"), "AccessDeniedException", 400, False),
    ("codepipeline", lambda c: c.get_pipeline_state(name="mlops"), "AccessDeniedException", 400, False),
    ("stepfunctions", lambda c: c.list_state_machines(), "AccessDeniedException", 400, False),
    ("lambda", lambda c: c.get_function(FunctionName="f"), "AccessDeniedException", 403, False),   # REST-JSON
    ("sagemaker-runtime", lambda c: c.invoke_endpoint(EndpointName="abalone-dev", Body=b"1", ContentType="text/csv"),
     "AccessDeniedException", 403, False),
    ("iam", lambda c: c.list_roles(), "AccessDenied", 403, False),                     # query
    ("cloudformation", lambda c: c.describe_stacks(StackName="mlops"), "AccessDenied", 403, False),
    ("s3", lambda c: c.list_buckets(), "AccessDenied", 403, False),                     # REST-XML
])
def test_a_denial_answers_in_each_protocols_shape(cloud, role, service, call, code, status, quoted):
    _, session = role(f"iam-test-{service}")
    found_code, found_status, message = refusal(lambda: call(client_of(cloud, session, service)))
    assert (found_code, found_status) == (code, status)
    assert message.startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/iam-test-{service}/test is not authorized "
                              "to perform: ")
    assert message.endswith("because no identity-based policy allows the " + message.split("perform: ")[1].split()[0]
                            + " action")


def test_invoke_endpoint_is_sagemaker_invokeendpoint_on_the_endpoint(cloud, role):
    _, session = role("iam-test-invoke")
    message = refusal(lambda: client_of(cloud, session, "sagemaker-runtime").invoke_endpoint(
        EndpointName="abalone-dev", Body=b"1", ContentType="text/csv"))[2]
    assert f"sagemaker:InvokeEndpoint on resource: arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/abalone-dev" in message


@pytest.mark.parametrize("service, call, code, status", [
    ("s3", lambda c: c.list_buckets(), "InvalidAccessKeyId", 403),
    ("sagemaker", lambda c: c.list_models(), "UnrecognizedClientException", 400),
    ("lambda", lambda c: c.list_functions(), "UnrecognizedClientException", 403),
    ("iam", lambda c: c.list_roles(), "InvalidClientTokenId", 403),
    ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId", 403),
])
def test_an_unknown_access_key_is_refused(cloud, service, call, code, status):
    client = boto3.client(service, endpoint_url=cloud.endpoint_url, region_name=REGION,
                          aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="secret",
                          config=Config(retries={"max_attempts": 1}))
    found_code, found_status, message = refusal(lambda: call(client))
    assert (found_code, found_status) == (code, status)
    assert message in ("The security token included in the request is invalid.",
                       "The AWS Access Key Id you provided does not exist in our records.")


@pytest.mark.parametrize("service, call, code, status, text", [
    ("s3", lambda c: c.list_buckets(), "ExpiredToken", 400, "The provided token has expired."),
    ("sagemaker", lambda c: c.list_models(), "ExpiredTokenException", 400,
     "The security token included in the request is expired"),
    ("sts", lambda c: c.get_caller_identity(), "ExpiredToken", 403,
     "The security token included in the request is expired"),
])
def test_an_expired_session_is_refused(cloud, role, service, call, code, status, text):
    from moto.core.utils import utcnow
    from moto.sts.models import sts_backends
    import datetime
    _, session = role("iam-test-expired", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    key = session.get_credentials().access_key
    assumed = next(r for r in sts_backends[ACCOUNT]["aws"].assumed_roles if r.access_key_id == key)
    assumed.expiration = utcnow() - datetime.timedelta(seconds=1)
    assert refusal(lambda: call(client_of(cloud, session, service))) == (code, status, text)


def test_a_session_key_with_another_token_is_refused(cloud, role):
    _, session = role("iam-test-token", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    credentials = session.get_credentials()
    forged = boto3.client("iam", endpoint_url=cloud.endpoint_url, region_name=REGION,
                          aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key,
                          aws_session_token="not-the-token", config=Config(retries={"max_attempts": 1}))
    assert refusal(forged.list_roles)[:2] == ("InvalidClientTokenId", 403)


def test_a_key_in_no_aws_format_is_the_administrator_unless_refused(cloud):
    client = boto3.client("sts", endpoint_url=cloud.endpoint_url, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    assert client.get_caller_identity()["Account"] == ACCOUNT


def test_a_users_key_in_another_partition_is_that_user(cloud):
    admin = {"endpoint_url": cloud.endpoint_url, "region_name": "cn-north-1", "aws_access_key_id": "testing",
             "aws_secret_access_key": "testing"}
    iam = boto3.client("iam", **admin)
    user = iam.create_user(UserName="cn-user")["User"]
    key = iam.create_access_key(UserName="cn-user")["AccessKey"]
    sts = boto3.client("sts", endpoint_url=cloud.endpoint_url, region_name="cn-north-1",
                       aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"] == user["Arn"] == f"arn:aws-cn:iam::{ACCOUNT}:user/cn-user"


def test_web_identity_and_saml_calls_are_unsigned_as_in_aws(cloud):
    from botocore import UNSIGNED
    sts = boto3.client("sts", endpoint_url=cloud.endpoint_url, region_name=REGION,
                       config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    answer = sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/web", RoleSessionName="web-user",
                                               WebIdentityToken="token")
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    # Any other call of the query protocol must be signed.
    assert refusal(sts.get_caller_identity)[:2] == ("MissingAuthenticationToken", 403)


@pytest.mark.parametrize("cloud_settings", [{"iam": {"unknown_keys": "refuse"}}])
def test_unknown_keys_can_be_refused_whatever_their_form(cloud, clients):
    client = boto3.client("iam", endpoint_url=cloud.endpoint_url, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
    assert refusal(client.list_roles)[:2] == ("InvalidClientTokenId", 403)
    clients("iam").list_roles()   # the administrator's key still works


@pytest.mark.parametrize("cloud_settings", [{"iam": "off"}])
def test_the_setting_turns_enforcement_off(cloud, role, bucket):
    _, session = role("iam-test-off")
    assert client_of(cloud, session, "s3").get_object(Bucket=bucket, Key="e1/input/train.csv")["Body"].read()


def test_credentials_for_a_service_the_role_does_not_trust_are_refused(clients, iam):
    arn = clients("iam").create_role(RoleName="iam-test-trust", AssumeRolePolicyDocument=trust(
        "states.amazonaws.com", condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}))["Role"]["Arn"]
    with pytest.raises(AssumeRoleRefused, match="lambda.amazonaws.com is not authorized to perform: sts:AssumeRole"):
        iam.credentials_for(arn, service="lambda.amazonaws.com")
    with pytest.raises(AssumeRoleRefused):
        iam.credentials_for(arn, service="states.amazonaws.com")          # aws:SourceAccount absent
    credentials = iam.credentials_for(arn, service="states.amazonaws.com", source_account=ACCOUNT,
                                      session_name="execution-1")
    assert set(credentials) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "Expiration"}
    assert credentials["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert iam.principal_for_credentials(credentials).arn == \
        f"arn:aws:sts::{ACCOUNT}:assumed-role/iam-test-trust/execution-1"
    with pytest.raises(AssumeRoleRefused, match="does not exist"):
        iam.credentials_for(f"arn:aws:iam::{ACCOUNT}:role/nobody", service="lambda.amazonaws.com")


def test_assume_role_through_the_api_checks_the_trust_policy(cloud, clients):
    admin = clients("iam")
    service_only = admin.create_role(RoleName="iam-test-service-only",
                                     AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))["Role"]["Arn"]
    account = admin.create_role(RoleName="iam-test-account", AssumeRolePolicyDocument=trust())["Role"]["Arn"]
    sts = clients("sts")
    code, status, message = refusal(lambda: sts.assume_role(RoleArn=service_only, RoleSessionName="me"))
    assert (code, status) == ("AccessDenied", 403)
    assert message == (f"User: arn:aws:iam::{ACCOUNT}:user/localcloud is not authorized to perform: sts:AssumeRole "
                       f"on resource: {service_only}")
    assumed = sts.assume_role(RoleArn=account, RoleSessionName="me")["Credentials"]
    session = boto3.client("sts", endpoint_url=cloud.endpoint_url, region_name=REGION,
                           aws_access_key_id=assumed["AccessKeyId"], aws_secret_access_key=assumed["SecretAccessKey"],
                           aws_session_token=assumed["SessionToken"])
    assert session.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/iam-test-account/me"
    assert refusal(lambda: sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/nobody",
                                           RoleSessionName="me"))[:2] == ("AccessDenied", 403)


TRAINING = {"AlgorithmSpecification": {"TrainingImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/abalone:latest",
                                       "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}}


def test_passing_a_role_needs_passrole_to_that_service_and_the_roles_trust(cloud, clients, role):
    admin = clients("iam")
    sagemaker_role = admin.create_role(RoleName="iam-test-sagemaker",
                                       AssumeRolePolicyDocument=trust("sagemaker.amazonaws.com"))["Role"]["Arn"]
    untrusting = admin.create_role(RoleName="iam-test-glue-only",
                                   AssumeRolePolicyDocument=trust("glue.amazonaws.com"))["Role"]["Arn"]
    # SageMaker pulls the job's image as the role: an image given to the cloud, and the grants the pull needs.
    cloud.settings["image_contexts"] = {"abalone": str(FAKE_IMAGE)}
    admin.put_role_policy(RoleName="iam-test-sagemaker", PolicyName="pull", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}))
    train = {"Effect": "Allow", "Action": "sagemaker:CreateTrainingJob",
             "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/mlops-*"}
    _, conditioned = role("iam-test-launcher", train, {
        "Effect": "Allow", "Action": "iam:PassRole", "Resource": [sagemaker_role, untrusting],
        "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}})
    sm = client_of(cloud, conditioned, "sagemaker")
    sm.create_training_job(TrainingJobName="mlops-abalone-1", RoleArn=sagemaker_role, **TRAINING)
    code, status, message = refusal(lambda: sm.create_training_job(TrainingJobName="mlops-abalone-2",
                                                                   RoleArn=untrusting, **TRAINING))
    assert (code, status) == ("ValidationException", 400)
    assert message == (f"Could not assume role {untrusting}. Please ensure that the role exists and allows principal "
                       "'sagemaker.amazonaws.com' to assume the role.")
    _, for_glue = role("iam-test-glue-passer", train, {
        "Effect": "Allow", "Action": "iam:PassRole", "Resource": sagemaker_role,
        "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}})
    code, status, message = refusal(lambda: client_of(cloud, for_glue, "sagemaker").create_training_job(
        TrainingJobName="mlops-abalone-3", RoleArn=sagemaker_role, **TRAINING))
    assert (code, status) == ("AccessDeniedException", 400)
    assert f"is not authorized to perform: iam:PassRole on resource: {sagemaker_role} because no identity-based " \
           "policy allows the iam:PassRole action" in message


def test_check_pass_role_for_roles_given_another_way(clients, iam):
    admin = clients("iam")
    deploy = admin.create_role(RoleName="iam-test-cfn",
                               AssumeRolePolicyDocument=trust("cloudformation.amazonaws.com"))["Role"]["Arn"]
    other = admin.create_role(RoleName="iam-test-other",
                              AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))["Role"]["Arn"]
    admin.create_role(RoleName="iam-test-pipeline", AssumeRolePolicyDocument=trust("codepipeline.amazonaws.com"))
    admin.put_role_policy(RoleName="iam-test-pipeline", PolicyName="p", PolicyDocument=document({
        "Effect": "Allow", "Action": "iam:PassRole", "Resource": [deploy, other],
        "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}}))
    pipeline = iam.principal_for_credentials(iam.credentials_for(
        f"arn:aws:iam::{ACCOUNT}:role/iam-test-pipeline", service="codepipeline.amazonaws.com"))
    assert iam.check_pass_role(pipeline, deploy, "cloudformation.amazonaws.com").allowed
    refused = iam.check_pass_role(pipeline, deploy, "lambda.amazonaws.com")
    assert not refused.allowed
    assert refused.message.endswith(f"iam:PassRole on resource: {deploy} because no identity-based policy allows "
                                    "the iam:PassRole action")
    untrusted = iam.check_pass_role(pipeline, other, "cloudformation.amazonaws.com")
    assert not untrusted.allowed and untrusted.decision.policy_type == "trust policy"
    assert untrusted.message == f"Role {other} is invalid or cannot be assumed"


def test_a_function_policy_lets_eventbridge_invoke_from_its_rule_only(clients, iam, make_function):
    arn = make_function("iam-test-monitor", "def lambda_handler(event, context):\n    return event\n")
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/etl-job-state-abalone"
    clients("lambda").add_permission(FunctionName="iam-test-monitor", StatementId="events", Principal=
                                     "events.amazonaws.com", Action="lambda:InvokeFunction", SourceArn=rule)
    events = iam.service_principal("events.amazonaws.com")
    assert iam.judge(events, "lambda:InvokeFunction", arn, context={"aws:SourceArn": rule}).allowed
    other = iam.judge(events, "lambda:InvokeFunction", arn, context={"aws:SourceArn": rule.replace("etl", "x")})
    assert not other.allowed
    assert other.message == (f"User: events.amazonaws.com is not authorized to perform: lambda:InvokeFunction on "
                             f"resource: {arn} because no resource-based policy allows the lambda:InvokeFunction "
                             "action")
    assert not iam.judge(iam.service_principal("sns.amazonaws.com"), "lambda:InvokeFunction", arn).allowed


def test_a_bucket_policy_grants_a_role_without_an_identity_policy(cloud, clients, role, bucket):
    arn, session = role("iam-test-reader")
    clients("s3").put_bucket_policy(Bucket=bucket, Policy=document({
        "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert client_of(cloud, session, "s3").get_object(Bucket=bucket, Key="e1/input/train.csv")["Body"].read()


def test_a_call_the_local_cloud_cannot_judge_is_refused_saying_so(cloud, role):
    _, session = role("iam-test-unknown", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    code, status, message = refusal(lambda: client_of(cloud, session, "lambda").get_resource_policy(
        ResourceArn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"))
    assert (code, status) == ("AccessDeniedException", 403)
    assert message == (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/iam-test-unknown/test is not authorized to perform: "
                       "lambda:GetResourcePolicy because the local cloud cannot judge this call: the Service "
                       "Authorization Reference has no action for lambda:GetResourcePolicy")


def test_a_denial_says_which_part_of_the_resource_the_local_cloud_could_not_tell(cloud, role):
    stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/mlops-deploy-dev/0f1e2d3c"
    _, session = role("iam-test-stack", {"Effect": "Allow", "Action": "cloudformation:DescribeStacks",
                                         "Resource": stack})
    message = refusal(lambda: client_of(cloud, session, "cloudformation").describe_stacks(
        StackName="mlops-deploy-dev"))[2]
    assert message.endswith(f"on resource: arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/mlops-deploy-dev/* because "
                            "no identity-based policy allows the cloudformation:DescribeStacks action (the local cloud "
                            "cannot tell ${Id} of the resource for this request)")


def test_an_unsigned_call_is_refused_but_the_local_clouds_own_routes_are_not(cloud):
    request = urllib.request.Request(f"{cloud.endpoint_url}/", data=b"Action=ListRoles&Version=2010-05-08",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 403
    with urllib.request.urlopen(f"{cloud.endpoint_url}/_localcloud/health", timeout=10) as response:
        assert response.status == 200


def test_git_over_http_is_judged_when_it_carries_credentials(cloud, clients, iam):
    clients("codecommit").create_repository(repositoryName="iam-test-repo")
    admin = clients("iam")
    admin.create_role(RoleName="iam-test-git", AssumeRolePolicyDocument=trust("codebuild.amazonaws.com"))
    credentials = iam.credentials_for(f"arn:aws:iam::{ACCOUNT}:role/iam-test-git", service="codebuild.amazonaws.com")
    url = f"{cloud.endpoint_url}/v1/repos/iam-test-repo/info/refs?service=git-upload-pack"
    user = f"{credentials['AWS_ACCESS_KEY_ID']}%{credentials['AWS_SESSION_TOKEN']}"
    auth = base64.b64encode(f"{user}:20261201T000000Zsignature".encode()).decode()
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"}), timeout=10)
    assert caught.value.code == 403
    assert "codecommit:GitPull" in caught.value.read().decode()
    admin.put_role_policy(RoleName="iam-test-git", PolicyName="p", PolicyDocument=document({
        "Effect": "Allow", "Action": "codecommit:GitPull",
        "Resource": f"arn:aws:codecommit:{REGION}:{ACCOUNT}:iam-test-repo"}))
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"}),
                                timeout=30) as response:
        assert response.status == 200
    with urllib.request.urlopen(url, timeout=30) as response:   # no credential helper: the administrator
        assert response.status == 200


def test_every_decision_is_recorded_per_principal(cloud, role, iam, bucket):
    arn, session = role("iam-test-logged", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    s3 = client_of(cloud, session, "s3")
    s3.get_object(Bucket=bucket, Key="e1/input/train.csv")
    refusal(lambda: s3.put_object(Bucket=bucket, Key="x", Body=b"x"))
    logged = iam.decisions(arn)
    assert [(d["action"], d["allowed"]) for d in logged][-2:] == [("s3:GetObject", True), ("s3:PutObject", False)]
    last = logged[-1]
    assert last["principal"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/iam-test-logged/test"
    assert last["identity"] == arn and last["resource"] == f"arn:aws:s3:::{bucket}/x"
    assert last["why"] == "because no identity-based policy allows the s3:PutObject action"
    assert {"time", "operation", "policy"} <= set(last)
    files = sorted(p.name for p in (cloud.state_dir / "iam" / "decisions").iterdir())
    assert "role-iam-test-logged.jsonl" in files and "localcloud.jsonl" in files
    assert any(d["action"] == "sts:AssumeRole" and d["kind"] == "service"
               for d in iam.decisions("lambda.amazonaws.com"))


def test_judging_costs_well_under_a_millisecond(iam):
    result = iam.benchmark(400, show=False)
    assert result["met"], result


def test_a_role_a_template_creates_is_judged_by_its_inline_and_aws_managed_policies(cloud, clients, iam, bucket):
    from testkit.waiting import wait_for
    template = {"Resources": {"Reader": {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": "iam-test-stack-role",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
        "Policies": [{"PolicyName": "write", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/e1/input/*"}]}}]}}}}
    cfn = clients("cloudformation")
    cfn.create_stack(StackName="iam-test-stack", TemplateBody=json.dumps(template),
                     Capabilities=["CAPABILITY_NAMED_IAM"])
    wait_for(lambda: cfn.describe_stacks(StackName="iam-test-stack")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE",
             60, 0.2, "the stack")
    attached = clients("iam").list_attached_role_policies(RoleName="iam-test-stack-role")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
    credentials = iam.credentials_for(f"arn:aws:iam::{ACCOUNT}:role/iam-test-stack-role", "lambda.amazonaws.com")
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint_url, region_name=REGION,
                      aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                      aws_session_token=credentials["AWS_SESSION_TOKEN"], config=Config(retries={"max_attempts": 1}))
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 2            # the AWS managed policy
    s3.put_object(Bucket=bucket, Key="e1/input/more.csv", Body=b"5,6")   # the inline policy
    assert refusal(lambda: s3.delete_object(Bucket=bucket, Key="e1/input/more.csv"))[0] == "AccessDenied"
    written = clients("iam").get_role_policy(RoleName="iam-test-stack-role", PolicyName="write")["PolicyDocument"]
    assert written["Statement"][0]["Action"] == "s3:PutObject"   # JSON, as AWS answers it

    # An update of the stack changes what the role's sessions may do.
    role = template["Resources"]["Reader"]["Properties"]
    role["ManagedPolicyArns"] = []
    role["Policies"] = [{"PolicyName": "delete", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/e1/input/*"}]}}]
    cfn.update_stack(StackName="iam-test-stack", TemplateBody=json.dumps(template),
                     Capabilities=["CAPABILITY_NAMED_IAM"])
    wait_for(lambda: cfn.describe_stacks(StackName="iam-test-stack")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE",
             60, 0.2, "the update")
    assert clients("iam").list_role_policies(RoleName="iam-test-stack-role")["PolicyNames"] == ["delete"]
    s3.delete_object(Bucket=bucket, Key="e1/input/more.csv")
    assert refusal(lambda: s3.list_objects_v2(Bucket=bucket))[0] == "AccessDenied"


def test_an_iam_users_access_key_is_judged_by_the_users_and_its_groups_policies(cloud, clients, bucket):
    admin = clients("iam")
    admin.create_user(UserName="iam-test-user")
    admin.create_group(GroupName="iam-test-readers")
    admin.add_user_to_group(GroupName="iam-test-readers", UserName="iam-test-user")
    admin.put_group_policy(GroupName="iam-test-readers", PolicyName="read", PolicyDocument=document(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    key = admin.create_access_key(UserName="iam-test-user")["AccessKey"]
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint_url, region_name=REGION, aws_access_key_id=key["AccessKeyId"],
                      aws_secret_access_key=key["SecretAccessKey"], config=Config(retries={"max_attempts": 1}))
    assert s3.get_object(Bucket=bucket, Key="e1/input/train.csv")["Body"].read() == b"1,2"
    assert refusal(lambda: s3.put_object(Bucket=bucket, Key="x", Body=b"x"))[2].startswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/iam-test-user is not authorized to perform: s3:PutObject")
    admin.update_access_key(UserName="iam-test-user", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert refusal(lambda: s3.get_object(Bucket=bucket, Key="e1/input/train.csv"))[0] == "InvalidAccessKeyId"


def test_a_services_kept_session_is_reused_until_near_its_end(cloud, clients, iam, monkeypatch):
    arn = clients("iam").create_role(RoleName="kept", AssumeRolePolicyDocument=trust("sagemaker.amazonaws.com"))[
        "Role"]["Arn"]
    first = iam.session_credentials(arn, "sagemaker.amazonaws.com", "SageMaker")
    assert iam.session_credentials(arn, "sagemaker.amazonaws.com", "SageMaker") == first
    assert iam.principal_for_credentials(first).arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/kept/SageMaker"
    from mlops_workshop.localcloud.iam import service
    monkeypatch.setattr(service, "SESSION_RENEWAL_S", 3600)   # every kept session is now "near its end"
    assert iam.session_credentials(arn, "sagemaker.amazonaws.com", "SageMaker") != first
    with pytest.raises(AssumeRoleRefused):
        iam.session_credentials(arn, "lambda.amazonaws.com")


def test_a_service_acts_as_its_caller_with_the_callers_own_credentials(cloud, role, iam, bucket):
    from mlops_workshop.localcloud.clients import DUMMY_CREDENTIALS
    arn, session = role("iam-test-caller", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    client_of(cloud, session, "s3").get_object(Bucket=bucket, Key="e1/input/train.csv")
    assert iam.caller() is None   # this thread answers no call
    principal = iam.principal_for_credentials({"AWS_ACCESS_KEY_ID": session.get_credentials().access_key,
                                               "AWS_SESSION_TOKEN": session.get_credentials().token})
    assert iam.credentials_of(principal)["AWS_SESSION_TOKEN"] == session.get_credentials().token
    assert iam.credentials_of(None) == DUMMY_CREDENTIALS


def test_a_call_a_service_makes_without_sending_it_is_judged_as_if_sent(clients, iam, role):
    sagemaker = clients("iam").create_role(RoleName="iam-test-sm", AssumeRolePolicyDocument=trust(
        "sagemaker.amazonaws.com"))["Role"]["Arn"]
    arn, session = role("iam-test-builder", {"Effect": "Allow", "Action": "codebuild:CreateProject", "Resource": "*"})
    principal = iam.principal_for_credentials({"AWS_ACCESS_KEY_ID": session.get_credentials().access_key,
                                               "AWS_SESSION_TOKEN": session.get_credentials().token})
    verdict = iam.judge_call(principal, "codebuild", "CreateProject", {"name": "p", "serviceRole": sagemaker})
    assert not verdict.allowed and "iam:PassRole" in verdict.message
    assert iam.judge_call(principal, "codebuild", "CreateProject", {"name": "p"}).allowed
    assert not iam.judge_call(principal, "codebuild", "DeleteProject", {"name": "p"}).allowed
