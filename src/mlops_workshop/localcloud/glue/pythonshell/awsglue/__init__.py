"""The awsglue package as a Glue Python-shell job imports it: `awsglue.utils.getResolvedOptions` and the argument
names `awsglue.job.Job` reserves. The Spark parts (GlueContext, DynamicFrame, transforms) need a Spark job and are
not in a Python-shell environment."""
