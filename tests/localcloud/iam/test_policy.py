"""The evaluator: a principal gets exactly what its policies say, decided as AWS's policy evaluation logic does."""

import json

import pytest

from mlops_workshop.localcloud.iam.conditions import UNKNOWN
from mlops_workshop.localcloud.iam.policy import UNKNOWN_PART, Policy, Principal, Request, evaluate

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/MLOps-Lambda-us-east-1"
SESSION = Principal("role-session", f"arn:aws:sts::{ACCOUNT}:assumed-role/MLOps-Lambda-us-east-1/fn", ACCOUNT,
                    name="MLOps-Lambda-us-east-1", role_arn=ROLE, session_name="fn")
EVENTS = Principal("service", "events.amazonaws.com", ACCOUNT, name="events.amazonaws.com",
                   service="events.amazonaws.com")


def policy(*statements, source="policy"):
    return Policy.compile(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), source)


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(action, arn, *identity, principal=SESSION, context=None, **kwargs):
    return evaluate(Request(principal, action, arn, dict(context or {})), list(identity), **kwargs)


def test_an_allowed_action_on_a_listed_resource_is_allowed():
    decision = decide("s3:GetObject", "arn:aws:s3:::artifacts/a/b",
                      policy(allow("s3:GetObject", "arn:aws:s3:::artifacts/*", Sid="Read"), source="lambda"))
    assert decision.allowed and decision.statement == "lambda/Read"


def test_anything_else_is_denied_with_awss_reason():
    identity = policy(allow("s3:GetObject", "arn:aws:s3:::artifacts/*"))
    assert decide("s3:GetObject", "arn:aws:s3:::data/a", identity).reason == \
        "because no identity-based policy allows the s3:GetObject action"
    assert not decide("s3:PutObject", "arn:aws:s3:::artifacts/a", identity).allowed
    assert not decide("s3:GetObject", "arn:aws:s3:::artifacts/a", policy()).allowed


def test_an_explicit_deny_overrides_any_allow():
    decision = decide("s3:DeleteObject", "arn:aws:s3:::artifacts/a",
                      policy(allow("s3:*", "*")), policy(deny("s3:Delete*", "arn:aws:s3:::artifacts/*", Sid="No")))
    assert not decision.allowed and decision.explicit
    assert decision.reason == "with an explicit deny in an identity-based policy"
    assert decision.statement == "policy/No"


@pytest.mark.parametrize("pattern, resource, allowed", [
    ("arn:aws:s3:::artifacts/*", "arn:aws:s3:::artifacts/x/y/z", True),      # * crosses slashes
    ("arn:aws:s3:::artifacts/*/code/*", "arn:aws:s3:::artifacts/e1/code/preprocess.py", True),
    ("arn:aws:s3:::artifacts/*/code/*", "arn:aws:s3:::artifacts/e1/input/train.csv", False),
    ("arn:aws:s3:::artifacts", "arn:aws:s3:::artifacts/x", False),            # the bucket is not its objects
    ("arn:aws:sagemaker:*:*:training-job/mlops-abalone-*", "arn:aws:sagemaker:us-east-1:123456789012:"
     "training-job/mlops-abalone-1", True),
    ("arn:aws:states:us-east-1:123456789012:execution:abalone-system-test:*",
     "arn:aws:states:us-east-1:123456789012:execution:abalone-system-test:e1", True),
    ("arn:aws:lambda:us-east-1:123456789012:function:f", "arn:aws:lambda:us-east-1:123456789012:function:f:1", False),
    ("arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/*",
     "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:log-stream:s1", True),
    ("arn:aws:s3:::bucket-?", "arn:aws:s3:::bucket-a", True),
    ("arn:aws:s3:::bucket-?", "arn:aws:s3:::bucket-ab", False),
    ("arn:aws:s3:::Artifacts/*", "arn:aws:s3:::artifacts/a", False),         # resources are case-sensitive
])
def test_resource_wildcards(pattern, resource, allowed):
    assert decide("s3:GetObject", resource, policy(allow("s3:GetObject", pattern))).allowed is allowed


def test_action_wildcards_are_case_insensitive():
    identity = policy(allow(["sagemaker:Describe*", "S3:get?bject"]))
    assert decide("sagemaker:DescribeTrainingJob", "*", identity).allowed
    assert decide("s3:GetObject", "*", identity).allowed
    assert not decide("sagemaker:CreateTrainingJob", "*", identity).allowed


def test_notaction_and_notresource():
    everything_but_iam = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide("s3:GetObject", "arn:aws:s3:::x/y", everything_but_iam).allowed
    assert not decide("iam:CreateRole", "arn:aws:iam::123456789012:role/r", everything_but_iam).allowed
    outside_secrets = policy({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secrets/*"})
    assert decide("s3:GetObject", "arn:aws:s3:::data/a", outside_secrets).allowed
    assert not decide("s3:GetObject", "arn:aws:s3:::secrets/a", outside_secrets).allowed
    deny_outside = policy(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::data/*"})
    assert decide("s3:PutObject", "arn:aws:s3:::data/a", deny_outside).allowed
    assert not decide("s3:PutObject", "arn:aws:s3:::other/a", deny_outside).allowed


@pytest.mark.parametrize("condition, context, allowed", [
    ({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
     {"iam:passedtoservice": "sagemaker.amazonaws.com"}, True),
    ({"StringEquals": {"iam:PassedToService": ["glue.amazonaws.com", "sagemaker.amazonaws.com"]}},
     {"iam:passedtoservice": "glue.amazonaws.com"}, True),                         # values are ORed
    ({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
     {"iam:passedtoservice": "lambda.amazonaws.com"}, False),
    ({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}, {}, False),   # absent key
    ({"StringNotEquals": {"aws:PrincipalTag/team": ["a", "b"]}}, {"aws:principaltag/team": "c"}, True),  # NOR
    ({"StringNotEquals": {"aws:PrincipalTag/team": ["a", "b"]}}, {"aws:principaltag/team": "b"}, False),
    ({"StringNotEquals": {"aws:PrincipalTag/team": "a"}}, {}, True),              # negated, absent key: true
    ({"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
     {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}, True),
    ({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, {"aws:username": "alice"}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:123456789012:rule/etl-*"}},
     {"aws:sourcearn": "arn:aws:events:us-east-1:123456789012:rule/etl-job-state-abalone"}, True),
    ({"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/a"}},
     {"aws:sourcearn": "arn:aws:events:us-east-1:123456789012:rule/b"}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "true"}, True),
    ({"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": "true"}, False),
    ({"Null": {"aws:SourceArn": "true"}}, {}, True),
    ({"Null": {"aws:SourceArn": "false"}}, {}, False),
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, True),
    ({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, False),
    ({"DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}}, {"aws:currenttime": "2026-12-01T00:00:00Z"},
     True),
    ({"StringEqualsIfExists": {"iam:PassedToService": "sagemaker.amazonaws.com"}}, {}, True),
    ({"StringEqualsIfExists": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
     {"iam:passedtoservice": "glue.amazonaws.com"}, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "cost"]}}, {"aws:tagkeys": ["name", "team"]}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, {}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost"]}}, {"aws:tagkeys": ["team", "cost"]}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost"]}}, {"aws:tagkeys": ["team", "name"]}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, {}, True),
    ({"StringEquals": {"aws:SourceAccount": "123456789012"}, "ArnLike": {"aws:SourceArn": "arn:aws:events:*"}},
     {"aws:sourceaccount": "123456789012"}, False),                               # operators are ANDed
    ({"StringLike": {"s3:prefix": "${aws:username}/*"}}, {"s3:prefix": "alice/x", "aws:username": "alice"}, True),
])
def test_conditions(condition, context, allowed):
    identity = policy(allow("*", Condition=condition))
    assert decide("s3:ListBucket", "arn:aws:s3:::b", identity, context=context).allowed is allowed


def test_a_condition_key_the_local_cloud_cannot_tell_never_allows_and_says_so():
    identity = policy(allow("s3:GetObject", Condition={"StringEquals": {"aws:ResourceTag/team": "ml"}}))
    decision = decide("s3:GetObject", "arn:aws:s3:::b/k", identity, context={"aws:resourcetag/team": UNKNOWN})
    assert not decision.allowed
    assert decision.unknown == "condition key aws:ResourceTag/team"


def test_a_deny_on_a_key_the_local_cloud_cannot_tell_applies():
    identity = policy(allow("s3:*"), deny("s3:*", Condition={"StringNotEquals": {"aws:ResourceTag/team": "ml"}}))
    decision = decide("s3:GetObject", "arn:aws:s3:::b/k", identity, context={"aws:resourcetag/team": UNKNOWN})
    assert not decision.allowed and decision.explicit and decision.unknown == "condition key aws:ResourceTag/team"


STACKS = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/"


def test_a_resource_part_the_request_does_not_tell_is_covered_only_by_a_wildcard():
    resource = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/mlops-deploy-dev/{UNKNOWN_PART}"
    assert decide("cloudformation:CreateStack", resource, policy(allow(
        "cloudformation:CreateStack", f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/mlops-deploy-dev/*"))).allowed
    assert not decide("cloudformation:CreateStack", resource, policy(allow(
        "cloudformation:CreateStack", f"{STACKS}mlops-deploy-dev/abc"))).allowed
    # A Deny that could match some value of the unknown part applies.
    assert not decide("cloudformation:CreateStack", resource, policy(allow("cloudformation:*")), policy(deny(
        "cloudformation:CreateStack", f"{STACKS}mlops-deploy-dev/abc"))).allowed


def test_passrole_with_and_without_the_passed_to_service_condition():
    sagemaker_role = f"arn:aws:iam::{ACCOUNT}:role/MLOps-SageMaker-us-east-1"
    conditioned = policy(allow("iam:PassRole", sagemaker_role,
                               Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
    assert decide("iam:PassRole", sagemaker_role, conditioned,
                  context={"iam:passedtoservice": "sagemaker.amazonaws.com"}).allowed
    assert not decide("iam:PassRole", sagemaker_role, conditioned,
                      context={"iam:passedtoservice": "glue.amazonaws.com"}).allowed
    unconditioned = policy(allow("iam:PassRole", sagemaker_role))
    assert decide("iam:PassRole", sagemaker_role, unconditioned,
                  context={"iam:passedtoservice": "glue.amazonaws.com"}).allowed


def test_a_permissions_boundary_and_a_session_policy_limit_what_the_identity_allows():
    identity = policy(allow("s3:*"))
    boundary = [policy(allow("s3:GetObject"))]
    assert decide("s3:GetObject", "arn:aws:s3:::b/k", identity, boundary=boundary).allowed
    decision = decide("s3:PutObject", "arn:aws:s3:::b/k", identity, boundary=boundary)
    assert decision.reason == "because no permissions boundary allows the s3:PutObject action"
    decision = decide("s3:PutObject", "arn:aws:s3:::b/k", identity, session=[policy(allow("s3:Get*"))])
    assert decision.reason == "because no session policy allows the s3:PutObject action"
    decision = decide("s3:GetObject", "arn:aws:s3:::b/k", identity, boundary=[policy(deny("s3:*"))])
    assert decision.reason == "with an explicit deny in a permissions boundary"


def test_a_resource_policy_allows_a_service_principal_from_its_source_arn():
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/etl-job-state-abalone"
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:etl-job-monitor-abalone"
    permission = policy({"Sid": "EtlJobMonitorPermission", "Effect": "Allow",
                         "Principal": {"Service": "events.amazonaws.com"}, "Action": "lambda:InvokeFunction",
                         "Resource": function, "Condition": {"ArnLike": {"AWS:SourceArn": rule}}},
                        source="function policy")
    assert decide("lambda:InvokeFunction", function, principal=EVENTS, context={"aws:sourcearn": rule},
                  resource=[permission]).allowed
    other = decide("lambda:InvokeFunction", function, principal=EVENTS,
                   context={"aws:sourcearn": rule.replace("etl", "training")}, resource=[permission])
    assert other.reason == "because no resource-based policy allows the lambda:InvokeFunction action"
    assert not decide("lambda:InvokeFunction", function, principal=EVENTS, resource=[]).allowed


def test_a_resource_policy_naming_the_role_allows_without_an_identity_grant():
    bucket = policy({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject",
                     "Resource": "arn:aws:s3:::data/*"}, source="bucket policy")
    assert decide("s3:GetObject", "arn:aws:s3:::data/a", resource=[bucket]).allowed
    # Naming the account delegates to the identity policies, as AWS does within one account.
    account = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                      "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"})
    assert not decide("s3:GetObject", "arn:aws:s3:::data/a", resource=[account]).allowed
    # And a bucket policy's Deny applies to the role whatever its identity policy says.
    denying = policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::data/*"})
    decision = decide("s3:GetObject", "arn:aws:s3:::data/a", policy(allow("s3:*")), resource=[denying])
    assert decision.reason == "with an explicit deny in a resource-based policy"


def test_a_trust_policy_must_allow_the_principal_that_assumes_the_role():
    trust = policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    assumer = policy(allow("sts:AssumeRole"))
    assert not decide("sts:AssumeRole", ROLE, assumer, resource=[trust], trust=True).allowed
    lam = Principal("service", "lambda.amazonaws.com", ACCOUNT, service="lambda.amazonaws.com")
    assert decide("sts:AssumeRole", ROLE, principal=lam, resource=[trust], trust=True).allowed
    account = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    assert decide("sts:AssumeRole", ROLE, assumer, resource=[account], trust=True).allowed
    assert not decide("sts:AssumeRole", ROLE, policy(), resource=[account], trust=True).allowed   # and identity
    sourced = policy({"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}})
    states = Principal("service", "states.amazonaws.com", ACCOUNT, service="states.amazonaws.com")
    assert decide("sts:AssumeRole", ROLE, principal=states, resource=[sourced], trust=True,
                  context={"aws:sourceaccount": ACCOUNT}).allowed
    assert not decide("sts:AssumeRole", ROLE, principal=states, resource=[sourced], trust=True).allowed


def test_policies_are_compiled_once_per_text():
    text = json.dumps({"Statement": [allow("s3:GetObject")]})
    assert Policy.compile(text, "a") is Policy.compile(text, "a")


def test_a_policy_with_an_unknown_operator_is_refused():
    from mlops_workshop.localcloud.iam.conditions import ConditionError
    with pytest.raises(ConditionError, match="StringAlike"):
        policy(allow("*", Condition={"StringAlike": {"aws:username": "a"}}))
