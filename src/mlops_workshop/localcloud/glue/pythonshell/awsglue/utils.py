"""`getResolvedOptions(args, options)`: the job's arguments from sys.argv, as AWS documents it ("Accessing parameters
using getResolvedOptions") and as Glue's own library resolves them:

- each name in `options` ("day_partition_key") is required as `--day_partition_key value` (or `=value`); a missing
  one raises GlueArgumentError ("the following arguments are required: --day_partition_key"), an abbreviation of a
  declared name counts as that name, and arguments not asked for are ignored;
- the answer also holds what Glue passes itself: job_bookmark_option (job-bookmark-disable unless given, or translated
  from an old --continuation-option), job_bookmark_from/to, JOB_ID, JOB_RUN_ID, SECURITY_CONFIGURATION,
  encryption_type, enable_data_lineage, TempDir and RedshiftTempDir (each mirrors the other); absent ones are None;
- names Glue reserves (continuation-option, job-bookmark-option, job-bookmark-from/to, --JOB_ID, --JOB_RUN_ID,
  --SECURITY_CONFIGURATION, --encryption-type, --enable-data-lineage) raise RuntimeError("Using reserved arguments
  ..."); both bookmark range options without job-bookmark-pause, or only one of them with it, raise RuntimeError.
Keys are argparse's: a name's dashes become underscores ("my-arg" -> "my_arg").
"""

import argparse

from awsglue.job import Job

_global_args = {}


class GlueArgumentError(Exception):
    pass


class GlueArgumentParser(argparse.ArgumentParser):
    """An argument parser that raises GlueArgumentError where argparse would exit, so the script sees why."""

    def error(self, message):
        raise GlueArgumentError(message)


def _refuse_reserved(options):
    bare = [Job.continuation_options()[0], Job.job_bookmark_options()[0]] + Job.job_bookmark_range_options()
    for option in bare:
        if option[2:] in options:
            shown = option if option in Job.job_bookmark_range_options() else option[2:]
            raise RuntimeError("Using reserved arguments " + shown)
    dashed = Job.id_params()[1:] + [Job.encryption_type_options()[0], Job.data_lineage_options()[0]]
    for option in dashed:
        if option in options:
            raise RuntimeError("Using reserved arguments " + option)


def _bookmark_option(parsed):
    """job-bookmark-option wins; else an old continuation option, translated; else job-bookmark-disable."""
    continuation = parsed.pop("continuation_option", None)
    if parsed.get("job_bookmark_option") is not None:
        return parsed["job_bookmark_option"]
    if continuation is None:
        return Job.job_bookmark_options()[3]
    return Job.job_bookmark_options()[Job.continuation_options().index(continuation)]


def getResolvedOptions(args, options):
    _refuse_reserved(options)
    parser = GlueArgumentParser()
    parser.add_argument(Job.job_bookmark_options()[0], choices=Job.job_bookmark_options()[1:], required=False)
    parser.add_argument(Job.continuation_options()[0], choices=Job.continuation_options()[1:], required=False)
    for option in Job.job_bookmark_range_options() + Job.id_params()[1:]:
        parser.add_argument(option, required=False)
    parser.add_argument(Job.encryption_type_options()[0], choices=Job.encryption_type_options()[1:])
    parser.add_argument(Job.data_lineage_options()[0], required=False)
    parser.add_argument("--RedshiftTempDir", required=False)
    parser.add_argument("--TempDir", required=False)
    for option in options:
        if option not in ("RedshiftTempDir", "TempDir"):
            parser.add_argument("--" + option, required=True)
    parsed, _unknown = parser.parse_known_args(args[1:])
    resolved = vars(parsed)
    if resolved.get("TempDir") is not None:
        resolved["RedshiftTempDir"] = resolved["TempDir"]
    elif resolved.get("RedshiftTempDir") is not None:
        resolved["TempDir"] = resolved["RedshiftTempDir"]
    resolved["job_bookmark_option"] = _bookmark_option(resolved)
    absent = [option for option in Job.job_bookmark_range_options()
              if resolved.get(option[2:].replace("-", "_")) is None]
    if resolved["job_bookmark_option"] == "job-bookmark-pause":
        if len(absent) == 1:
            raise RuntimeError("Missing option or value for " + absent[0])
    elif not absent:
        raise RuntimeError("Invalid option(s)" + " ".join(Job.job_bookmark_range_options()))
    _global_args.update(resolved)
    return resolved
