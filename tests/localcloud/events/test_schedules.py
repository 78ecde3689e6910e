"""Schedule expressions read as EventBridge reads them: every example of AWS's "Schedule expressions for rules" page
and its next firings, the wildcards it documents, and PutRule refusing what EventBridge refuses."""

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from mlops_workshop.localcloud.events.schedules import ScheduleError, parse_schedule

AT = datetime(2024, 1, 31, 10, 30, tzinfo=timezone.utc)  # a Wednesday, the last day of January


def firings(expression, count=3, start=AT):
    found, moment = [], start
    for _ in range(count):
        moment = parse_schedule(expression).next_after(moment) if moment else None
        found.append(moment.strftime("%a %Y-%m-%d %H:%M") if moment else None)
    return found


# AWS's examples (the table, then the put-rule examples), each with its next three firings after AT.
DOCUMENTED = [
    ("cron(0 10 * * ? *)", ["Thu 2024-02-01 10:00", "Fri 2024-02-02 10:00", "Sat 2024-02-03 10:00"]),
    ("cron(15 12 * * ? *)", ["Wed 2024-01-31 12:15", "Thu 2024-02-01 12:15", "Fri 2024-02-02 12:15"]),
    ("cron(0 18 ? * MON-FRI *)", ["Wed 2024-01-31 18:00", "Thu 2024-02-01 18:00", "Fri 2024-02-02 18:00"]),
    ("cron(0 8 1 * ? *)", ["Thu 2024-02-01 08:00", "Fri 2024-03-01 08:00", "Mon 2024-04-01 08:00"]),
    ("cron(0/15 * * * ? *)", ["Wed 2024-01-31 10:45", "Wed 2024-01-31 11:00", "Wed 2024-01-31 11:15"]),
    ("cron(0/10 * ? * MON-FRI *)", ["Wed 2024-01-31 10:40", "Wed 2024-01-31 10:50", "Wed 2024-01-31 11:00"]),
    ("cron(0/5 8-17 ? * MON-FRI *)", ["Wed 2024-01-31 10:35", "Wed 2024-01-31 10:40", "Wed 2024-01-31 10:45"]),
    ("cron(0/30 20-2 ? * MON-FRI *)", ["Wed 2024-01-31 20:00", "Wed 2024-01-31 20:30", "Wed 2024-01-31 21:00"]),
    ("cron(0 12 * * ? *)", ["Wed 2024-01-31 12:00", "Thu 2024-02-01 12:00", "Fri 2024-02-02 12:00"]),
    ("cron(5,35 14 * * ? *)", ["Wed 2024-01-31 14:05", "Wed 2024-01-31 14:35", "Thu 2024-02-01 14:05"]),
    ("cron(15 10 ? * 6L 2019-2022)", [None, None, None]),
    ("rate(1 minute)", ["Wed 2024-01-31 10:31", "Wed 2024-01-31 10:32", "Wed 2024-01-31 10:33"]),
    ("rate(5 minutes)", ["Wed 2024-01-31 10:35", "Wed 2024-01-31 10:40", "Wed 2024-01-31 10:45"]),
    ("rate(1 hour)", ["Wed 2024-01-31 11:30", "Wed 2024-01-31 12:30", "Wed 2024-01-31 13:30"]),
    ("rate(1 day)", ["Thu 2024-02-01 10:30", "Fri 2024-02-02 10:30", "Sat 2024-02-03 10:30"]),
]


@pytest.mark.parametrize("expression, expected", DOCUMENTED, ids=[e for e, _ in DOCUMENTED])
def test_the_documented_examples_fire_when_aws_says(expression, expected):
    assert firings(expression) == expected


def test_the_last_friday_of_the_documented_years():
    assert firings("cron(15 10 ? * 6L 2019-2022)", 3, datetime(2022, 10, 1, tzinfo=timezone.utc)) == [
        "Fri 2022-10-28 10:15", "Fri 2022-11-25 10:15", "Fri 2022-12-30 10:15"]


def test_the_wrapping_hours_are_read_field_by_field():
    # Hours 20-2 are 20..23 and 0..2 of each day the day-of-week allows (as 8-17 ends at 17:55 in AWS's example).
    assert firings("cron(0/30 20-2 ? * MON-FRI *)", 8, datetime(2024, 2, 2, 23, 0, tzinfo=timezone.utc)) == [
        "Fri 2024-02-02 23:30", "Mon 2024-02-05 00:00", "Mon 2024-02-05 00:30", "Mon 2024-02-05 01:00",
        "Mon 2024-02-05 01:30", "Mon 2024-02-05 02:00", "Mon 2024-02-05 02:30", "Mon 2024-02-05 20:00"]


@pytest.mark.parametrize("expression, expected", [
    ("cron(0/1 * * * ? *)", ["Wed 2024-01-31 10:31", "Wed 2024-01-31 10:32", "Wed 2024-01-31 10:33"]),
    ("cron(*/5 * * * ? *)", ["Wed 2024-01-31 10:35", "Wed 2024-01-31 10:40", "Wed 2024-01-31 10:45"]),
    ("cron(1/10 * * * ? *)", ["Wed 2024-01-31 10:31", "Wed 2024-01-31 10:41", "Wed 2024-01-31 10:51"]),
    ("cron(0 0 L * ? *)", ["Thu 2024-02-29 00:00", "Sun 2024-03-31 00:00", "Tue 2024-04-30 00:00"]),
    ("cron(0 0 L-2 * ? *)", ["Tue 2024-02-27 00:00", "Fri 2024-03-29 00:00", "Sun 2024-04-28 00:00"]),
    ("cron(0 0 LW * ? *)", ["Thu 2024-02-29 00:00", "Fri 2024-03-29 00:00", "Tue 2024-04-30 00:00"]),
    ("cron(0 0 3W * ? *)", ["Fri 2024-02-02 00:00", "Mon 2024-03-04 00:00", "Wed 2024-04-03 00:00"]),
    ("cron(0 0 1W * ? *)", ["Thu 2024-02-01 00:00", "Fri 2024-03-01 00:00", "Mon 2024-04-01 00:00"]),
    ("cron(0 0 ? * L *)", ["Sat 2024-02-03 00:00", "Sat 2024-02-10 00:00", "Sat 2024-02-17 00:00"]),
    ("cron(0 9 ? * 3#2 *)", ["Tue 2024-02-13 09:00", "Tue 2024-03-12 09:00", "Tue 2024-04-09 09:00"]),
    ("cron(0 9 ? * MON#1 *)", ["Mon 2024-02-05 09:00", "Mon 2024-03-04 09:00", "Mon 2024-04-01 09:00"]),
    ("cron(0 8 1 JAN,JUL ? 2024-2025)", ["Mon 2024-07-01 08:00", "Wed 2025-01-01 08:00", "Tue 2025-07-01 08:00"]),
    ("cron(0 0 29 2 ? *)", ["Thu 2024-02-29 00:00", "Tue 2028-02-29 00:00", "Sun 2032-02-29 00:00"]),
    ("cron(0 * ? * * *)", ["Wed 2024-01-31 11:00", "Wed 2024-01-31 12:00", "Wed 2024-01-31 13:00"]),
])
def test_the_documented_wildcards(expression, expected):
    assert firings(expression) == expected


def test_naive_times_are_utc():
    assert parse_schedule("cron(0 12 * * ? *)").next_after(datetime(2024, 1, 31, 12, 0)) == datetime(2024, 2, 1, 12)
    assert parse_schedule("rate(2 hours)").next_after(AT) - AT == timedelta(hours=2)


@pytest.mark.parametrize("expression", [
    "cron(0 12 * * ?)", "cron(0 12 * * * *)", "cron(0 12 ? * ? *)", "cron(7 20 * * 1-7 *)", "cron(60 * * * ? *)",
    "cron(0 24 * * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 * 13 ? *)", "cron(0 0 ? * 8 *)", "cron(0 0 * * ? 1969)",
    "cron(0 0 ? * 3#1,6#3 *)", "cron(0 0 ? * 3#6 *)", "cron(0 0 ? * 1/2 *)", "cron(0/0 * * * ? *)",
    "cron(0 0 FOO * ? *)", "rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 seconds)", "rate(-1 day)",
    "every day", "cron(0 12 * * ? *",
])
def test_what_eventbridge_refuses(expression):
    with pytest.raises(ScheduleError):
        parse_schedule(expression)


def test_put_rule_refuses_an_invalid_expression_with_eventbridges_message(clients):
    events = clients("events")
    for bad in ("cron(0/5 * * * *)", "rate(1 hours)", "cron(0 12 * * * *)"):
        with pytest.raises(ClientError) as error:
            events.put_rule(Name="bad", ScheduleExpression=bad)
        assert error.value.response["Error"]["Code"] == "ValidationException"
        assert error.value.response["Error"]["Message"] == "Parameter ScheduleExpression is not valid."
    assert events.put_rule(Name="good", ScheduleExpression="cron(0/1 * * * ? *)")["RuleArn"].endswith("rule/good")


def test_a_stack_with_an_invalid_schedule_fails_with_eventbridges_message(clients):
    cfn = clients("cloudformation")
    template = {"Resources": {"Tick": {"Type": "AWS::Events::Rule",
                                       "Properties": {"ScheduleExpression": "rate(2 minute)"}}}}
    import json
    cfn.create_stack(StackName="ticks", TemplateBody=json.dumps(template))
    from testkit.waiting import wait_for
    stack = wait_for(lambda: (s := cfn.describe_stacks(StackName="ticks")["Stacks"][0])["StackStatus"].endswith(
        "COMPLETE") and s, 60)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName="ticks")["StackEvents"]]
    assert any("Parameter ScheduleExpression is not valid." in r for r in reasons)
