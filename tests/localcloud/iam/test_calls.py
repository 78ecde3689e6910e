"""What each call the project makes needs from IAM: the action(s) and resource ARN(s), from the Service Authorization
Reference and AWS's documented exceptions (S3's ListObjectsV2 is s3:ListBucket, Lambda's Invoke lambda:InvokeFunction,
SageMaker Runtime's InvokeEndpoint sagemaker:InvokeEndpoint), with the iam:PassRole of a role the call hands over.

The table holds every operation the project's code calls (lambdas/, container/build.py, tests/system_test/build.py,
the buildspecs, src/mlops_workshop and the local cloud's own clients); `*` in a resource marks a part the request
does not tell (only a `*` in a policy covers it)."""

import json

import pytest

from mlops_workshop.localcloud.iam.operations import Operation

SAGEMAKER_ROLE = "arn:aws:iam::123456789012:role/MLOps-SageMaker-us-east-1"
PIPELINE_ROLE = "arn:aws:iam::123456789012:role/MLOps-Pipeline-us-east-1"
WORKFLOW_ROLE = "arn:aws:iam::123456789012:role/abalone-system-test-WorkflowRole"
# The stack id the tests' lookup gives (a running cloud reads it from the stack).
DEV_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/mlops-deploy-dev/0f1e2d3c-aaaa-bbbb-cccc-000000000000"
SCALABLE_TARGET = "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/endpoint/e/variant/AllTraffic"
SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
TRAINING_LOGS = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs"

CALLS = [
    ('s3', 'get_object', {'Bucket': 'b', 'Key': 'k/x.csv'},
     [('s3:GetObject', 'arn:aws:s3:::b/k/x.csv')]),
    ('s3', 'get_object', {'Bucket': 'b', 'Key': 'k/x.csv', 'VersionId': 'v1'},
     [('s3:GetObjectVersion', 'arn:aws:s3:::b/k/x.csv')]),
    ('s3', 'head_object', {'Bucket': 'b', 'Key': 'k'},
     [('s3:GetObject', 'arn:aws:s3:::b/k')]),
    ('s3', 'put_object', {'Bucket': 'b', 'Key': 'k', 'Body': b'x'},
     [('s3:PutObject', 'arn:aws:s3:::b/k')]),
    ('s3', 'put_object', {'Bucket': 'b', 'Key': 'k', 'Body': b'x', 'ACL': 'bucket-owner-full-control'},
     [('s3:PutObject', 'arn:aws:s3:::b/k'), ('s3:PutObjectAcl', 'arn:aws:s3:::b/k')]),
    ('s3', 'list_objects_v2', {'Bucket': 'b', 'Prefix': 'p/'},
     [('s3:ListBucket', 'arn:aws:s3:::b')]),
    ('s3', 'list_object_versions', {'Bucket': 'b'},
     [('s3:ListBucketVersions', 'arn:aws:s3:::b')]),
    ('s3', 'head_bucket', {'Bucket': 'b'},
     [('s3:ListBucket', 'arn:aws:s3:::b')]),
    ('s3', 'list_buckets', {},
     [('s3:ListAllMyBuckets', '*')]),
    ('s3', 'create_bucket', {'Bucket': 'b'},
     [('s3:CreateBucket', 'arn:aws:s3:::b')]),
    ('s3', 'delete_bucket', {'Bucket': 'b'},
     [('s3:DeleteBucket', 'arn:aws:s3:::b')]),
    ('s3', 'delete_object', {'Bucket': 'b', 'Key': 'k'},
     [('s3:DeleteObject', 'arn:aws:s3:::b/k')]),
    ('s3', 'delete_objects', {'Bucket': 'b', 'Delete': {'Objects': [{'Key': 'a'}, {'Key': 'b/c'}]}},
     [('s3:DeleteObject', 'arn:aws:s3:::b/a'), ('s3:DeleteObject', 'arn:aws:s3:::b/b/c')]),
    ('s3', 'get_bucket_versioning', {'Bucket': 'b'},
     [('s3:GetBucketVersioning', 'arn:aws:s3:::b')]),
    ('s3', 'put_bucket_versioning', {'Bucket': 'b', 'VersioningConfiguration': {'Status': 'Enabled'}},
     [('s3:PutBucketVersioning', 'arn:aws:s3:::b')]),
    ('s3', 'get_bucket_encryption', {'Bucket': 'b'},
     [('s3:GetEncryptionConfiguration', 'arn:aws:s3:::b')]),
    ('s3', 'put_bucket_encryption', {'Bucket': 'b', 'ServerSideEncryptionConfiguration': SSE},
     [('s3:PutEncryptionConfiguration', 'arn:aws:s3:::b')]),
    ('s3', 'get_public_access_block', {'Bucket': 'b'},
     [('s3:GetBucketPublicAccessBlock', 'arn:aws:s3:::b')]),
    ('s3', 'put_public_access_block', {'Bucket': 'b', 'PublicAccessBlockConfiguration': {'BlockPublicAcls': True}},
     [('s3:PutBucketPublicAccessBlock', 'arn:aws:s3:::b')]),
    ('s3', 'copy_object', {'Bucket': 'b', 'Key': 'k2', 'CopySource': 'src/k1'},
     [('s3:PutObject', 'arn:aws:s3:::b/k2'), ('s3:GetObject', 'arn:aws:s3:::src/k1')]),
    ('s3', 'create_multipart_upload', {'Bucket': 'b', 'Key': 'k'},
     [('s3:PutObject', 'arn:aws:s3:::b/k')]),
    ('s3', 'upload_part', {'Bucket': 'b', 'Key': 'k', 'UploadId': 'u', 'PartNumber': 1, 'Body': b'x'},
     [('s3:PutObject', 'arn:aws:s3:::b/k')]),
    ('s3', 'complete_multipart_upload',
     {'Bucket': 'b', 'Key': 'k', 'UploadId': 'u', 'MultipartUpload': {'Parts': []}},
     [('s3:PutObject', 'arn:aws:s3:::b/k')]),
    ('s3', 'get_bucket_location', {'Bucket': 'b'},
     [('s3:GetBucketLocation', 'arn:aws:s3:::b')]),
    ('s3', 'get_bucket_policy', {'Bucket': 'b'},
     [('s3:GetBucketPolicy', 'arn:aws:s3:::b')]),
    ('sagemaker', 'create_training_job',
     {'TrainingJobName': 'mlops-Abalone-1', 'RoleArn': SAGEMAKER_ROLE, 'AlgorithmSpecification': {},
      'OutputDataConfig': {}, 'ResourceConfig': {}, 'StoppingCondition': {}},
     [('sagemaker:CreateTrainingJob', 'arn:aws:sagemaker:us-east-1:123456789012:training-job/mlops-abalone-1'),
      ('iam:PassRole', SAGEMAKER_ROLE)]),
    ('sagemaker', 'describe_training_job', {'TrainingJobName': 'mlops-abalone-1'},
     [('sagemaker:DescribeTrainingJob', 'arn:aws:sagemaker:us-east-1:123456789012:training-job/mlops-abalone-1')]),
    ('sagemaker', 'create_model_package_group', {'ModelPackageGroupName': 'abalone'},
     [('sagemaker:CreateModelPackageGroup', 'arn:aws:sagemaker:us-east-1:123456789012:model-package-group/abalone')]),
    ('sagemaker', 'describe_model_package_group', {'ModelPackageGroupName': 'abalone'},
     [('sagemaker:DescribeModelPackageGroup', 'arn:aws:sagemaker:us-east-1:123456789012:model-package-group/abalone')]),
    ('sagemaker', 'delete_model_package_group', {'ModelPackageGroupName': 'abalone'},
     [('sagemaker:DeleteModelPackageGroup', 'arn:aws:sagemaker:us-east-1:123456789012:model-package-group/abalone')]),
    ('sagemaker', 'create_model_package', {'ModelPackageGroupName': 'abalone'},
     [('sagemaker:CreateModelPackage', 'arn:aws:sagemaker:us-east-1:123456789012:model-package-group/abalone')]),
    ('sagemaker', 'describe_model_package',
     {'ModelPackageName': 'arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3'},
     [('sagemaker:DescribeModelPackage', 'arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3')]),
    ('sagemaker', 'update_model_package',
     {'ModelPackageArn': 'arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3',
      'ModelApprovalStatus': 'Approved'},
     [('sagemaker:UpdateModelPackage', 'arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3')]),
    ('sagemaker', 'delete_model_package',
     {'ModelPackageName': 'arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3'},
     [('sagemaker:DeleteModelPackage', 'arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/3')]),
    ('sagemaker', 'list_model_packages', {'ModelPackageGroupName': 'abalone'},
     [('sagemaker:ListModelPackages', '*')]),
    ('sagemaker', 'list_tags',
     {'ResourceArn': 'arn:aws:sagemaker:us-east-1:123456789012:training-job/mlops-abalone-1'},
     [('sagemaker:ListTags', 'arn:aws:sagemaker:us-east-1:123456789012:training-job/mlops-abalone-1')]),
    ('sagemaker', 'create_model', {'ModelName': 'abalone-dev-m1', 'ExecutionRoleArn': SAGEMAKER_ROLE},
     [('sagemaker:CreateModel', 'arn:aws:sagemaker:us-east-1:123456789012:model/abalone-dev-m1'),
      ('iam:PassRole', SAGEMAKER_ROLE)]),
    ('sagemaker', 'describe_model', {'ModelName': 'm1'},
     [('sagemaker:DescribeModel', 'arn:aws:sagemaker:us-east-1:123456789012:model/m1')]),
    ('sagemaker', 'delete_model', {'ModelName': 'm1'},
     [('sagemaker:DeleteModel', 'arn:aws:sagemaker:us-east-1:123456789012:model/m1')]),
    ('sagemaker', 'create_endpoint_config', {'EndpointConfigName': 'c1', 'ProductionVariants': []},
     [('sagemaker:CreateEndpointConfig', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c1')]),
    ('sagemaker', 'describe_endpoint_config', {'EndpointConfigName': 'c1'},
     [('sagemaker:DescribeEndpointConfig', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c1')]),
    ('sagemaker', 'delete_endpoint_config', {'EndpointConfigName': 'c1'},
     [('sagemaker:DeleteEndpointConfig', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c1')]),
    ('sagemaker', 'create_endpoint', {'EndpointName': 'abalone-dev', 'EndpointConfigName': 'c1'},
     [('sagemaker:CreateEndpoint', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/abalone-dev'),
      ('sagemaker:CreateEndpoint', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c1')]),
    ('sagemaker', 'update_endpoint', {'EndpointName': 'abalone-dev', 'EndpointConfigName': 'c1'},
     [('sagemaker:UpdateEndpoint', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/abalone-dev'),
      ('sagemaker:UpdateEndpoint', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c1')]),
    ('sagemaker', 'describe_endpoint', {'EndpointName': 'abalone-dev'},
     [('sagemaker:DescribeEndpoint', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/abalone-dev')]),
    ('sagemaker', 'delete_endpoint', {'EndpointName': 'abalone-dev'},
     [('sagemaker:DeleteEndpoint', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/abalone-dev')]),
    ('sagemaker', 'create_processing_job',
     {'ProcessingJobName': 'abalone-baseline-1', 'RoleArn': SAGEMAKER_ROLE, 'AppSpecification': {},
      'ProcessingResources': {}},
     [('sagemaker:CreateProcessingJob', 'arn:aws:sagemaker:us-east-1:123456789012:processing-job/abalone-baseline-1'),
      ('iam:PassRole', SAGEMAKER_ROLE)]),
    ('sagemaker-runtime', 'invoke_endpoint',
     {'EndpointName': 'abalone-dev', 'Body': b'1,2', 'ContentType': 'text/csv'},
     [('sagemaker:InvokeEndpoint', 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/abalone-dev')]),
    ('glue', 'create_job',
     {'Name': 'abalone-preprocess', 'Role': 'arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1', 'Command': {}},
     [('glue:CreateJob', 'arn:aws:glue:us-east-1:123456789012:job/abalone-preprocess'),
      ('iam:PassRole', 'arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1')]),
    ('glue', 'get_job', {'JobName': 'abalone-preprocess'},
     [('glue:GetJob', 'arn:aws:glue:us-east-1:123456789012:job/abalone-preprocess')]),
    ('glue', 'update_job',
     {'JobName': 'abalone-preprocess', 'JobUpdate': {'Role': 'MLOps-Glue-us-east-1', 'Command': {}}},
     [('glue:UpdateJob', 'arn:aws:glue:us-east-1:123456789012:job/abalone-preprocess'),
      ('iam:PassRole', 'arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1')]),
    ('glue', 'start_job_run', {'JobName': 'abalone-preprocess'},
     [('glue:StartJobRun', 'arn:aws:glue:us-east-1:123456789012:job/abalone-preprocess')]),
    ('glue', 'get_job_run', {'JobName': 'abalone-preprocess', 'RunId': 'jr_1'},
     [('glue:GetJobRun', 'arn:aws:glue:us-east-1:123456789012:job/abalone-preprocess')]),
    ('glue', 'get_job_runs', {'JobName': 'abalone-preprocess'},
     [('glue:GetJobRuns', 'arn:aws:glue:us-east-1:123456789012:job/abalone-preprocess')]),
    ('codepipeline', 'put_job_success_result', {'jobId': 'j'},
     [('codepipeline:PutJobSuccessResult', '*')]),
    ('codepipeline', 'put_job_failure_result',
     {'jobId': 'j', 'failureDetails': {'type': 'JobFailed', 'message': 'm'}},
     [('codepipeline:PutJobFailureResult', '*')]),
    ('codepipeline', 'get_pipeline_state', {'name': 'mlops'},
     [('codepipeline:GetPipelineState', 'arn:aws:codepipeline:us-east-1:123456789012:mlops')]),
    ('codepipeline', 'put_approval_result',
     {'pipelineName': 'mlops', 'stageName': 'ETLApproval', 'actionName': 'ApproveETL',
      'result': {'summary': 's', 'status': 'Approved'}, 'token': 't'},
     [('codepipeline:PutApprovalResult', 'arn:aws:codepipeline:us-east-1:123456789012:mlops/ETLApproval/ApproveETL')]),
    ('codepipeline', 'start_pipeline_execution', {'name': 'mlops'},
     [('codepipeline:StartPipelineExecution', 'arn:aws:codepipeline:us-east-1:123456789012:mlops')]),
    ('codepipeline', 'get_pipeline_execution', {'pipelineName': 'mlops', 'pipelineExecutionId': 'e'},
     [('codepipeline:GetPipelineExecution', 'arn:aws:codepipeline:us-east-1:123456789012:mlops')]),
    ('codepipeline', 'list_pipeline_executions', {'pipelineName': 'mlops'},
     [('codepipeline:ListPipelineExecutions', 'arn:aws:codepipeline:us-east-1:123456789012:mlops')]),
    ('codepipeline', 'list_action_executions', {'pipelineName': 'mlops'},
     [('codepipeline:ListActionExecutions', 'arn:aws:codepipeline:us-east-1:123456789012:mlops')]),
    ('codepipeline', 'get_pipeline', {'name': 'mlops'},
     [('codepipeline:GetPipeline', 'arn:aws:codepipeline:us-east-1:123456789012:mlops')]),
    ('codepipeline', 'create_pipeline',
     {'pipeline': {'name': 'mlops', 'roleArn': PIPELINE_ROLE, 'stages': []}},
     [('codepipeline:CreatePipeline', 'arn:aws:codepipeline:us-east-1:123456789012:mlops'),
      ('iam:PassRole', PIPELINE_ROLE)]),
    ('codepipeline', 'delete_pipeline', {'name': 'mlops'},
     [('codepipeline:DeletePipeline', 'arn:aws:codepipeline:us-east-1:123456789012:mlops')]),
    ('cloudformation', 'create_stack', {'StackName': 'mlops-deploy-dev', 'TemplateBody': '{}',
                                        'RoleARN': 'arn:aws:iam::123456789012:role/MLOps-CloudFormation-us-east-1'},
     [('cloudformation:CreateStack', DEV_STACK),
      ('iam:PassRole', 'arn:aws:iam::123456789012:role/MLOps-CloudFormation-us-east-1')]),
    ('cloudformation', 'update_stack', {'StackName': 'mlops-deploy-dev', 'TemplateBody': '{}'},
     [('cloudformation:UpdateStack', DEV_STACK)]),
    ('cloudformation', 'delete_stack', {'StackName': 'mlops-deploy-dev'},
     [('cloudformation:DeleteStack', DEV_STACK)]),
    ('cloudformation', 'describe_stacks', {'StackName': 'mlops-deploy-dev'},
     [('cloudformation:DescribeStacks', DEV_STACK)]),
    ('cloudformation', 'describe_stacks', {},
     [('cloudformation:DescribeStacks', '*')]),
    ('cloudformation', 'describe_stack_events', {'StackName': 'mlops-deploy-dev'},
     [('cloudformation:DescribeStackEvents', DEV_STACK)]),
    ('cloudformation', 'describe_stack_resources', {'StackName': 'mlops-deploy-dev'},
     [('cloudformation:DescribeStackResources', DEV_STACK)]),
    ('cloudformation', 'validate_template', {'TemplateBody': '{}'},
     [('cloudformation:ValidateTemplate', '*')]),
    ('stepfunctions', 'create_state_machine', {'name': 'abalone-system-test', 'definition': '{}',
                                               'roleArn': WORKFLOW_ROLE},
     [('states:CreateStateMachine', 'arn:aws:states:us-east-1:123456789012:stateMachine:abalone-system-test'),
      ('iam:PassRole', WORKFLOW_ROLE)]),
    ('stepfunctions', 'update_state_machine',
     {'stateMachineArn': 'arn:aws:states:us-east-1:123456789012:stateMachine:abalone-system-test'},
     [('states:UpdateStateMachine', 'arn:aws:states:us-east-1:123456789012:stateMachine:abalone-system-test')]),
    ('stepfunctions', 'start_execution',
     {'stateMachineArn': 'arn:aws:states:us-east-1:123456789012:stateMachine:abalone-system-test'},
     [('states:StartExecution', 'arn:aws:states:us-east-1:123456789012:stateMachine:abalone-system-test')]),
    ('stepfunctions', 'describe_execution',
     {'executionArn': 'arn:aws:states:us-east-1:123456789012:execution:abalone-system-test:e1'},
     [('states:DescribeExecution', 'arn:aws:states:us-east-1:123456789012:execution:abalone-system-test:e1')]),
    ('stepfunctions', 'list_state_machines', {},
     [('states:ListStateMachines', '*')]),
    ('codecommit', 'get_repository', {'repositoryName': 'mlops'},
     [('codecommit:GetRepository', 'arn:aws:codecommit:us-east-1:123456789012:mlops')]),
    ('codecommit', 'get_branch', {'repositoryName': 'mlops', 'branchName': 'main'},
     [('codecommit:GetBranch', 'arn:aws:codecommit:us-east-1:123456789012:mlops')]),
    ('codecommit', 'create_repository', {'repositoryName': 'mlops'},
     [('codecommit:CreateRepository', 'arn:aws:codecommit:us-east-1:123456789012:mlops')]),
    ('codecommit', 'delete_repository', {'repositoryName': 'mlops'},
     [('codecommit:DeleteRepository', 'arn:aws:codecommit:us-east-1:123456789012:mlops')]),
    ('codebuild', 'start_build', {'projectName': 'mlops-buildimage-abalone'},
     [('codebuild:StartBuild', 'arn:aws:codebuild:us-east-1:123456789012:project/mlops-buildimage-abalone')]),
    ('codebuild', 'batch_get_builds', {'ids': ['mlops-buildimage-abalone:1234']},
     [('codebuild:BatchGetBuilds', 'arn:aws:codebuild:us-east-1:123456789012:project/mlops-buildimage-abalone')]),
    ('ecr', 'get_authorization_token', {},
     [('ecr:GetAuthorizationToken', '*')]),
    ('ecr', 'create_repository', {'repositoryName': 'abalone'},
     [('ecr:CreateRepository', 'arn:aws:ecr:us-east-1:123456789012:repository/abalone')]),
    ('ecr', 'describe_repositories', {'repositoryNames': ['abalone']},
     [('ecr:DescribeRepositories', 'arn:aws:ecr:us-east-1:123456789012:repository/abalone')]),
    ('ecr', 'describe_images', {'repositoryName': 'abalone'},
     [('ecr:DescribeImages', 'arn:aws:ecr:us-east-1:123456789012:repository/abalone')]),
    ('ecr', 'put_image', {'repositoryName': 'abalone', 'imageManifest': '{}'},
     [('ecr:PutImage', 'arn:aws:ecr:us-east-1:123456789012:repository/abalone')]),
    ('ecr', 'delete_repository', {'repositoryName': 'abalone'},
     [('ecr:DeleteRepository', 'arn:aws:ecr:us-east-1:123456789012:repository/abalone')]),
    ('ecr', 'put_image_scanning_configuration', {'repositoryName': 'abalone', 'imageScanningConfiguration': {}},
     [('ecr:PutImageScanningConfiguration', 'arn:aws:ecr:us-east-1:123456789012:repository/abalone')]),
    ('ecr', 'put_image_tag_mutability', {'repositoryName': 'abalone', 'imageTagMutability': 'MUTABLE'},
     [('ecr:PutImageTagMutability', 'arn:aws:ecr:us-east-1:123456789012:repository/abalone')]),
    ('lambda', 'invoke', {'FunctionName': 'etl-launch-job-abalone'},
     [('lambda:InvokeFunction', 'arn:aws:lambda:us-east-1:123456789012:function:etl-launch-job-abalone')]),
    ('lambda', 'invoke', {'FunctionName': 'arn:aws:lambda:us-east-1:123456789012:function:etl-launch-job-abalone:3'},
     [('lambda:InvokeFunction', 'arn:aws:lambda:us-east-1:123456789012:function:etl-launch-job-abalone:3')]),
    ('lambda', 'get_function', {'FunctionName': 'f'},
     [('lambda:GetFunction', 'arn:aws:lambda:us-east-1:123456789012:function:f')]),
    ('lambda', 'create_function',
     {'FunctionName': 'f', 'Role': 'arn:aws:iam::123456789012:role/MLOps-Lambda-us-east-1', 'Code': {}},
     [('lambda:CreateFunction', 'arn:aws:lambda:us-east-1:123456789012:function:f'),
      ('iam:PassRole', 'arn:aws:iam::123456789012:role/MLOps-Lambda-us-east-1')]),
    ('lambda', 'update_function_code', {'FunctionName': 'f', 'ZipFile': b'x'},
     [('lambda:UpdateFunctionCode', 'arn:aws:lambda:us-east-1:123456789012:function:f')]),
    ('lambda', 'add_permission',
     {'FunctionName': 'f', 'StatementId': 's', 'Action': 'lambda:InvokeFunction', 'Principal': 'events.amazonaws.com'},
     [('lambda:AddPermission', 'arn:aws:lambda:us-east-1:123456789012:function:f')]),
    ('logs', 'create_log_group', {'logGroupName': '/aws/sagemaker/TrainingJobs'},
     [('logs:CreateLogGroup', TRAINING_LOGS)]),
    ('logs', 'create_log_stream', {'logGroupName': '/aws/sagemaker/TrainingJobs', 'logStreamName': 's1'},
     [('logs:CreateLogStream', TRAINING_LOGS + ':log-stream:s1')]),
    ('logs', 'put_log_events',
     {'logGroupName': '/aws/sagemaker/TrainingJobs', 'logStreamName': 's1', 'logEvents': []},
     [('logs:PutLogEvents', TRAINING_LOGS + ':log-stream:s1')]),
    ('application-autoscaling', 'register_scalable_target',
     {'ServiceNamespace': 'sagemaker', 'ResourceId': 'endpoint/e/variant/AllTraffic',
      'ScalableDimension': 'sagemaker:variant:DesiredInstanceCount'},
     [('application-autoscaling:RegisterScalableTarget', SCALABLE_TARGET)]),
    ('application-autoscaling', 'put_scaling_policy',
     {'PolicyName': 'p', 'ServiceNamespace': 'sagemaker', 'ResourceId': 'endpoint/e/variant/AllTraffic',
      'ScalableDimension': 'sagemaker:variant:DesiredInstanceCount'},
     [('application-autoscaling:PutScalingPolicy', SCALABLE_TARGET)]),
    ('ssm', 'get_parameter', {'Name': '/mlops/x'},
     [('ssm:GetParameter', 'arn:aws:ssm:us-east-1:123456789012:parameter/mlops/x')]),
    ('secretsmanager', 'get_secret_value', {'SecretId': 'mlops/token'},
     [('secretsmanager:GetSecretValue', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:mlops/token')]),
    ('sts', 'get_caller_identity', {},
     []),
    ('sts', 'assume_role', {'RoleArn': SAGEMAKER_ROLE, 'RoleSessionName': 's'},
     [('sts:AssumeRole', SAGEMAKER_ROLE)]),
    ('iam', 'create_role', {'RoleName': 'abalone-system-test-x', 'AssumeRolePolicyDocument': '{}'},
     [('iam:CreateRole', 'arn:aws:iam::123456789012:role/abalone-system-test-x')]),
    ('iam', 'put_role_policy', {'RoleName': 'abalone-system-test-x', 'PolicyName': 'p', 'PolicyDocument': '{}'},
     [('iam:PutRolePolicy', 'arn:aws:iam::123456789012:role/abalone-system-test-x')]),
    ('iam', 'get_role', {'RoleName': 'pathed-role'},
     [('iam:GetRole', 'arn:aws:iam::123456789012:role/service/pathed-role')]),
    ('iam', 'create_service_linked_role', {'AWSServiceName': 'sagemaker.application-autoscaling.amazonaws.com'},
     [('iam:CreateServiceLinkedRole',
       'arn:aws:iam::123456789012:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/*')]),
    ('events', 'put_rule', {'Name': 'etl-job-state-abalone', 'EventPattern': '{}'},
     [('events:PutRule', 'arn:aws:events:us-east-1:123456789012:rule/etl-job-state-abalone')]),
    ('events', 'put_targets', {'Rule': 'etl-job-state-abalone',
                               'Targets': [{'Id': '1', 'Arn': 'arn:aws:lambda:us-east-1:123456789012:function:f'}]},
     [('events:PutTargets', 'arn:aws:events:us-east-1:123456789012:rule/etl-job-state-abalone')]),
    ('cloudwatch', 'put_metric_data', {'Namespace': 'Glue', 'MetricData': [{'MetricName': 'm', 'Value': 1.0}]},
     [('cloudwatch:PutMetricData', '*')]),
]


@pytest.mark.parametrize("service, method, params, expected", CALLS,
                         ids=[f"{c[0]}.{c[1]}-{i}" for i, c in enumerate(CALLS)])
def test_each_call_needs_the_actions_and_resources_aws_documents(describe, service, method, params, expected):
    assert describe(service, method, params) == expected


def test_passing_a_role_needs_passrole_with_the_service_it_is_passed_to(describe):
    op, call = describe("sagemaker", "create_training_job", {
        "TrainingJobName": "mlops-abalone-1", "RoleArn": SAGEMAKER_ROLE, "AlgorithmSpecification": {},
        "OutputDataConfig": {}, "ResourceConfig": {}, "StoppingCondition": {}}, full=True)
    passing = [n for n in call.needs if n.action == "iam:PassRole"]
    assert [(n.resource, n.keys, n.pass_role_to) for n in passing] == [
        (SAGEMAKER_ROLE, {"iam:passedtoservice": "sagemaker.amazonaws.com"}, "sagemaker.amazonaws.com")]


def test_a_role_nested_in_a_structure_is_passed_too(describe):
    op, call = describe("events", "put_targets", {"Rule": "r", "Targets": [
        {"Id": "1", "Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
         "RoleArn": "arn:aws:iam::123456789012:role/events-to-states"}]}, full=True)
    assert [(n.action, n.resource, n.pass_role_to) for n in call.needs][1:] == [
        ("iam:PassRole", "arn:aws:iam::123456789012:role/events-to-states", "events.amazonaws.com")]


def test_a_role_in_a_functions_payload_is_data_not_a_passed_role(describe):
    op, call = describe("lambda", "invoke", {"FunctionName": "baseline", "Payload": json.dumps(
        {"RoleArn": SAGEMAKER_ROLE, "ImageUri": "x"}).encode()}, full=True)
    assert [(n.action, n.resource) for n in call.needs] == [
        ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:baseline")]


@pytest.mark.parametrize("operation, action", [("GitUploadPack", "codecommit:GitPull"),
                                               ("GitReceivePack", "codecommit:GitPush")])
def test_git_over_codecommit_http_is_gitpull_and_gitpush(describer, operation, action):
    call = describer.describe(
        Operation("codecommit", operation, "rest-json", "codecommit", {"repo": "mlops"}), "us-east-1", {})
    assert [(n.action, n.resource) for n in call.needs] == [(action, "arn:aws:codecommit:us-east-1:123456789012:mlops")]


def test_an_operation_the_reference_does_not_know_is_unresolved_not_passed(describer):
    call = describer.describe(Operation("s3", "NoSuchOperation", "rest-xml", "s3", {}), "us-east-1", {})
    assert call.unresolved == "the Service Authorization Reference has no action for s3:NoSuchOperation"
    assert describer.describe(None, "us-east-1", {}).unresolved == "the local cloud does not know this operation"


def test_get_caller_identity_needs_no_permission(describe):
    assert describe("sts", "get_caller_identity", {}) == []


def test_context_keys_come_from_the_request_by_name(describe):
    from mlops_workshop.localcloud.iam.calls import Context
    from mlops_workshop.localcloud.iam.conditions import UNKNOWN
    from mlops_workshop.localcloud.iam.principals import administrator
    op, call = describe("cloudwatch", "put_metric_data",
                        {"Namespace": "/aws/sagemaker/TrainingJobs", "MetricData": []}, full=True)
    context = Context(administrator("123456789012"), call.needs[0], op, "us-east-1", {})
    assert context.get("cloudwatch:namespace") == "/aws/sagemaker/TrainingJobs"
    assert context.get("aws:RequestedRegion") == "us-east-1"
    assert context.get("aws:SourceArn") is None          # absent: nobody called on the principal's behalf
    assert context.get("aws:ResourceTag/team") is UNKNOWN  # AWS would know it; the local cloud does not look it up
    assert context.get("s3:prefix") is None               # another service's key: not in this action's context
    op, call = describe("iam", "create_service_linked_role",
                        {"AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}, full=True)
    context = Context(administrator("123456789012"), call.needs[0], op, "us-east-1", {})
    assert context.get("iam:AWSServiceName") == "sagemaker.application-autoscaling.amazonaws.com"
