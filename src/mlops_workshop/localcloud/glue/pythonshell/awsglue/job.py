"""The job arguments Glue itself sets or reserves, as `Job`'s class methods name them in Glue's library. A `Job` is
a Spark job's bookmark keeper: a Python-shell job has no Spark context to make one with."""


class Job:
    @classmethod
    def continuation_options(cls):
        return ["--continuation-option", "continuation-enabled", "continuation-readonly", "continuation-ignore"]

    @classmethod
    def job_bookmark_options(cls):
        return ["--job-bookmark-option", "job-bookmark-enable", "job-bookmark-pause", "job-bookmark-disable"]

    @classmethod
    def job_bookmark_range_options(cls):
        return ["--job-bookmark-from", "--job-bookmark-to"]

    @classmethod
    def id_params(cls):
        return ["--JOB_NAME", "--JOB_ID", "--JOB_RUN_ID", "--SECURITY_CONFIGURATION"]

    @classmethod
    def encryption_type_options(cls):
        return ["--encryption-type", "sse-s3"]

    @classmethod
    def data_lineage_options(cls):
        return ["--enable-data-lineage"]

    def __init__(self, glue_context):
        raise RuntimeError("awsglue.job.Job needs a GlueContext, which only Spark jobs (glueetl) have; a Python shell "
                           "job reads its arguments with awsglue.utils.getResolvedOptions")
