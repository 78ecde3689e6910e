"""container/build.py against moto: which package each stage deploys, the files it writes, its clear errors."""

import fnmatch
import json
import shutil

import pytest
import yaml

from testkit.moto import register_package

EXECUTION = "0f6c5a2e-1111-4b8e-9d7a-5c3e2a1b0c9d"
MODEL = "abalone"
ROLE_ARN = "arn:aws:iam::123456789012:role/mlops-sagemaker"
DATA_BUCKET = "mlops-data-us-east-1-123456789012"


def run(build, tmp_path, *extra, stages="Dev,Prd", execution=EXECUTION):
    argv = ["--model-name", MODEL, "--role-arn", ROLE_ARN, "--stages", stages, "--output-dir", str(tmp_path)]
    if execution:
        argv += ["--pipeline-execution-id", execution]
    return build.main(argv + list(extra))


def export(tmp_path, stage):
    return json.loads((tmp_path / f"{stage}-config-export.json").read_text())


@pytest.fixture(autouse=True)
def data_bucket_env(monkeypatch):
    monkeypatch.setenv("DATA_BUCKET", DATA_BUCKET)


def test_prd_deploys_the_latest_approved_package(container_build, model_group, tmp_path):
    register_package(model_group, "older-approved", approved=True)
    latest_approved = register_package(model_group, "latest-approved", approved=True)
    register_package(model_group, EXECUTION)  # newer, but still pending

    assert run(container_build, tmp_path, stages="Prd") == 0

    parameters = export(tmp_path, "Prd")["Parameters"]
    assert parameters["ModelPackageArn"] == latest_approved
    assert parameters["EndpointName"] == f"{MODEL}-prd"
    assert parameters["DataCaptureUri"] == f"s3://{DATA_BUCKET}/datacapture"
    assert parameters["MonitoringReportsUri"] == f"s3://{DATA_BUCKET}/monitoring/reports"
    assert parameters["MonitoringBaselineUri"] == ""  # approved by hand: no baseline, no schedule
    assert parameters["RoleArn"] == ROLE_ARN


def test_prd_is_monitored_against_the_baseline_the_system_test_recorded(container_build, model_group, tmp_path,
                                                                        capsys):
    package = register_package(model_group, "tested", approved=True)
    model_group.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved",
                                     CustomerMetadataProperties={
                                         "MonitoringBaselineUri": "s3://artifacts/e1/monitoring/baseline/"})

    assert run(container_build, tmp_path, stages="Prd") == 0

    assert export(tmp_path, "Prd")["Parameters"]["MonitoringBaselineUri"] == "s3://artifacts/e1/monitoring/baseline"
    assert "monitored against the baseline in s3://artifacts/e1/monitoring/baseline" in capsys.readouterr().out


def test_dev_deploys_the_package_this_execution_registered(container_build, model_group, tmp_path):
    register_package(model_group, "earlier", approved=True)
    mine = register_package(model_group, EXECUTION)
    register_package(model_group, "a-later-execution")

    assert run(container_build, tmp_path, stages="Dev") == 0

    written = export(tmp_path, "Dev")
    assert written["Parameters"]["ModelPackageArn"] == mine
    assert written["Parameters"]["EndpointName"] == f"{MODEL}-dev"
    assert written["Parameters"]["PipelineExecutionId"] == EXECUTION
    assert written["Tags"] == {"Project": "mlops-workshop"}
    assert (tmp_path / "deploy-model-Dev.yml").is_file()
    assert not (tmp_path / "Prd-config-export.json").exists()


def test_dev_without_an_execution_id_takes_the_newest_package_not_rejected(container_build, model_group, tmp_path):
    newest_usable = register_package(model_group, "one")
    rejected = register_package(model_group, "two")
    model_group.update_model_package(ModelPackageArn=rejected, ModelApprovalStatus="Rejected")

    assert run(container_build, tmp_path, stages="Dev", execution=None) == 0
    assert export(tmp_path, "Dev")["Parameters"]["ModelPackageArn"] == newest_usable


def test_no_approved_package_fails_clearly(container_build, model_group, tmp_path, capsys):
    register_package(model_group, EXECUTION)

    assert run(container_build, tmp_path, stages="Prd") == 1

    message = capsys.readouterr().err
    assert f"group {MODEL} has no approved model package" in message
    assert "SystemTest" in message and "update-model-package" in message
    assert not (tmp_path / "Prd-config-export.json").exists()


def test_no_package_of_this_execution_fails_clearly(container_build, model_group, tmp_path, capsys):
    register_package(model_group, "another-execution")

    assert run(container_build, tmp_path, stages="Dev") == 1
    message = capsys.readouterr().err
    assert f"registered by pipeline execution {EXECUTION}" in message
    assert "TrainApproval" in message


def test_a_missing_group_says_so(container_build, aws, tmp_path, capsys):
    assert run(container_build, tmp_path, stages="Prd") == 1
    assert "CreateModelGroup" in capsys.readouterr().err


def test_both_stages_merge_the_configuration_files(container_build, model_group, tmp_path, repo_root):
    register_package(model_group, EXECUTION)
    approved = register_package(model_group, "approved", approved=True)

    assert run(container_build, tmp_path) == 0

    for stage in ("Dev", "Prd"):
        config = json.loads((repo_root / "container" / "assets" / f"{stage}-config.json").read_text())
        written = export(tmp_path, stage)
        for name, value in config["Parameters"].items():
            assert written["Parameters"][name] == value
        assert all(isinstance(value, str) for value in written["Parameters"].values())
        template = yaml.load((tmp_path / f"deploy-model-{stage}.yml").read_text(), Loader=_CfnLoader)
        required = {name for name, spec in template["Parameters"].items() if "Default" not in spec}
        assert required <= set(written["Parameters"]) <= set(template["Parameters"])
    assert export(tmp_path, "Prd")["Parameters"]["ModelPackageArn"] == approved


def test_an_unknown_parameter_in_a_configuration_is_refused(
    container_build, model_group, tmp_path, repo_root, capsys
):
    register_package(model_group, EXECUTION)
    assets = tmp_path / "assets"
    shutil.copytree(repo_root / "container" / "assets", assets)
    config = json.loads((assets / "Dev-config.json").read_text())
    config["Parameters"]["InstanceTyp"] = "ml.m5.large"
    (assets / "Dev-config.json").write_text(json.dumps(config))

    assert run(container_build, tmp_path / "out", "--assets-dir", str(assets), stages="Dev") == 1
    assert "InstanceTyp" in capsys.readouterr().err


def test_capacity_outside_the_scaling_range_is_refused(container_build, model_group, tmp_path, repo_root, capsys):
    register_package(model_group, "approved", approved=True)
    assets = tmp_path / "assets"
    shutil.copytree(repo_root / "container" / "assets", assets)
    config = json.loads((assets / "Prd-config.json").read_text())
    config["Parameters"].update(InstanceCount="5", MaxCapacity="3")
    (assets / "Prd-config.json").write_text(json.dumps(config))

    assert run(container_build, tmp_path / "out", "--assets-dir", str(assets), stages="Prd") == 1
    assert "MinCapacity <= InstanceCount <= MaxCapacity" in capsys.readouterr().err


def test_missing_settings_are_named(container_build, aws, monkeypatch, capsys):
    monkeypatch.delenv("MODEL_NAME", raising=False)
    monkeypatch.delenv("SAGEMAKER_ROLE_ARN", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        container_build.main(["--stages", "Dev,Test"])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "MODEL_NAME" in message and "SAGEMAKER_ROLE_ARN" in message and "'Test'" in message


# moto has no CloudFormation model of Application Auto Scaling and skips those resources; cfn-lint checks them.
@pytest.mark.filterwarnings("ignore:Tried to parse AWS..ApplicationAutoScaling")
@pytest.mark.parametrize("stage", ["Dev", "Prd"])
def test_the_parameters_deploy_in_cloudformation(container_build, model_group, aws, tmp_path, stage):
    package = register_package(model_group, EXECUTION, approved=stage == "Prd")
    assert run(container_build, tmp_path, stages=stage) == 0
    written = export(tmp_path, stage)

    cfn = aws.client("cloudformation")
    name = f"{MODEL}-{stage.lower()}"
    cfn.create_stack(
        StackName=name,
        TemplateBody=(tmp_path / f"deploy-model-{stage}.yml").read_text(),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in written["Parameters"].items()],
        Tags=[{"Key": key, "Value": value} for key, value in written["Tags"].items()],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    assert outputs["ModelPackageArn"] == package

    sm = aws.client("sagemaker")
    # moto 5.2.5 names the endpoint after the stack, not its EndpointName property: find it by the output.
    endpoint = sm.describe_endpoint(EndpointName=outputs["EndpointName"])
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.m5.large"
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["ModelPackageName"] == package
    if stage == "Prd":
        capture = config["DataCaptureConfig"]
        assert capture["EnableCapture"] is True
        assert capture["DestinationS3Uri"] == f"s3://{DATA_BUCKET}/datacapture"


def test_the_buildspec_publishes_what_the_build_writes(container_build, model_group, tmp_path, repo_root):
    register_package(model_group, EXECUTION)
    register_package(model_group, "approved", approved=True)
    assert run(container_build, tmp_path) == 0

    spec = yaml.safe_load((repo_root / "container" / "buildspec.yml").read_text())
    commands = " ".join(spec["phases"]["build"]["commands"])
    assert f"--output-dir {spec['artifacts']['base-directory']}" in commands
    written = sorted(path.name for path in tmp_path.iterdir())
    published = sorted(name for name in written if any(fnmatch.fnmatch(name, p) for p in spec["artifacts"]["files"]))
    assert (
        published
        == written
        == [
            "Dev-config-export.json",
            "Prd-config-export.json",
            "deploy-model-Dev.yml",
            "deploy-model-Prd.yml",
        ]
    )


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_configuration_values_become_strings(container_build, tmp_path):
    config = tmp_path / "Dev-config.json"
    config.write_text(json.dumps({"Parameters": {"InstanceCount": 2, "Flag": True}, "Tags": {"Team": "ml"}}))
    assert container_build.read_config(config) == {
        "Parameters": {"InstanceCount": "2", "Flag": "true"},
        "Tags": {"Team": "ml"},
    }
    config.write_text(json.dumps({"Parameters": {"InstanceCount": [1]}}))
    with pytest.raises(container_build.BuildError, match="Parameters.InstanceCount must be a string or a number"):
        container_build.read_config(config)
    config.write_text("{not json")
    with pytest.raises(container_build.BuildError, match="is not valid JSON"):
        container_build.read_config(config)
