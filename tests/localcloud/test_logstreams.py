"""logstreams: what the local cloud writes to CloudWatch Logs for the work it runs, copied from a log file as it
grows."""

import time

from mlops_workshop.localcloud.logstreams import LogStream, follow
from testkit.waiting import wait_for


def events(clients, group, stream):
    return [e["message"] for e in clients("logs").get_log_events(logGroupName=group, logStreamName=stream,
                                                                 startFromHead=True)["events"]]


def test_a_follower_copies_new_lines_as_they_come_and_the_rest_when_it_stops(cloud, clients, tmp_path):
    path = tmp_path / "job.log"
    path.write_text("written before\n")
    follower = follow(cloud, "us-east-1", "/test/jobs", "job-1/algo-1-1", path, interval=0.05)
    with open(path, "a") as out:
        out.write("[localcloud] a note of the local cloud's\nfirst line\n\nhalf a li")
        out.flush()
        wait_for(lambda: events(clients, "/test/jobs", "job-1/algo-1-1") == ["first line", " "], 10,
                 what="the complete lines")
        out.write("ne")
    follower.stop()
    assert events(clients, "/test/jobs", "job-1/algo-1-1") == ["first line", " ", "half a line"]
    stamps = [e["timestamp"] for e in clients("logs").get_log_events(
        logGroupName="/test/jobs", logStreamName="job-1/algo-1-1")["events"]]
    assert stamps == sorted(stamps) and abs(stamps[-1] / 1000 - time.time()) < 60


def test_a_stream_in_an_existing_group_keeps_the_group_and_clips_long_lines(cloud, clients):
    clients("logs").create_log_group(logGroupName="/test/existing")
    stream = LogStream(cloud, "us-east-1", "/test/existing", "s")
    stream.put(["x" * 300_000, "short"])
    messages = events(clients, "/test/existing", "s")
    assert [len(m.encode()) for m in messages] == [256 * 1024 - 26, 5]
    assert stream.arn == "arn:aws:logs:us-east-1:123456789012:log-group:/test/existing:log-stream:s"
