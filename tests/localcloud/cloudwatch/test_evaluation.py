"""How an alarm's state follows from its evaluation range: every comparison, M of N, and each TreatMissingData on
the examples of AWS's "Configuring how CloudWatch alarms treat missing data" (5 periods read for 3 evaluated)."""

import pytest

from mlops_workshop.localcloud.cloudwatch.alarms import Config, decide

GOOD, BAD = 1.0, 5.0
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
# AWS's two tables: the datapoints (oldest first; 0 good, X breaching, - missing) and the state for each treatment.
THREE_OF_THREE = [
    ("0 - X - X", "OK OK OK OK"),
    ("0 - - - -", "OK OK OK OK"),
    ("- - - - -", "INSUFFICIENT_DATA retained ALARM OK"),
    ("0 X X - X", "ALARM ALARM ALARM ALARM"),
    ("- - - - X", "INSUFFICIENT_DATA retained ALARM OK"),
    ("X - - - -", "ALARM retained ALARM OK"),
]
TWO_OF_THREE = [
    ("0 - X - X", "ALARM ALARM ALARM ALARM"),
    ("0 0 X 0 X", "ALARM ALARM ALARM ALARM"),
    ("0 - X - -", "OK OK ALARM OK"),
    ("- - - - 0", "OK OK ALARM OK"),
    ("- - - - X", "INSUFFICIENT_DATA retained ALARM OK"),
]


def config(treatment="missing", n=3, m=3, comparison="GreaterThanThreshold", threshold=3.0):
    return Config(comparison, threshold, n, m, treatment, 60, "Average")


def points(row):
    return [(i, {"0": GOOD, "X": BAD, "-": None}[c]) for i, c in enumerate(row.split())]


@pytest.mark.parametrize("m, row, expected",
                         [(3, r, e) for r, e in THREE_OF_THREE] + [(2, r, e) for r, e in TWO_OF_THREE],
                         ids=[f"3of3 {r}" for r, _ in THREE_OF_THREE] + [f"2of3 {r}" for r, _ in TWO_OF_THREE])
def test_missing_data_as_aws_documents_it(m, row, expected):
    for treatment, state in zip(TREATMENTS, expected.split(), strict=True):
        outcome = decide(config(treatment, m=m), points(row))
        assert (outcome.state or "retained") == state, f"{treatment} on {row}: {outcome.reason}"


@pytest.mark.parametrize("comparison, below, equal, above", [
    ("GreaterThanThreshold", "OK", "OK", "ALARM"),
    ("GreaterThanOrEqualToThreshold", "OK", "ALARM", "ALARM"),
    ("LessThanThreshold", "ALARM", "OK", "OK"),
    ("LessThanOrEqualToThreshold", "ALARM", "ALARM", "OK"),
])
def test_each_comparison_operator(comparison, below, equal, above):
    for value, state in ((2.0, below), (3.0, equal), (4.0, above)):
        assert decide(config(n=1, m=1, comparison=comparison), [(0, None), (1, None), (2, value)]).state == state


def test_m_of_n_needs_m_breaching_datapoints_among_the_last_n():
    two_of_four = config(n=4, m=2)
    assert decide(two_of_four, points("0 X 0 0 0 X")).state == "OK"          # one in the last four
    assert decide(two_of_four, points("0 0 X 0 X 0")).state == "ALARM"       # not consecutive, still two
    assert decide(two_of_four, points("X X 0 0 0 0")).state == "OK"          # the old ones are out of the window


def test_the_reason_says_what_crossed_as_cloudwatch_words_it():
    outcome = decide(config(n=3, m=2), points("0 0 X 0 X"), lambda i: f"0{i}/10/19 16:59:00")
    assert outcome.reason == ("Threshold Crossed: 2 out of the last 3 datapoints [5.0 (04/10/19 16:59:00), "
                              "1.0 (03/10/19 16:59:00), 5.0 (02/10/19 16:59:00)] were greater than the threshold "
                              "(3.0) (minimum 2 datapoints for OK -> ALARM transition).")
    back = decide(config(n=1, m=1), points("- - 0"))
    assert back.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (2)] was not greater than")
    assert back.reason.endswith("(minimum 1 datapoint for ALARM -> OK transition).")
    assert decide(config("missing"), points("- - - - -")).reason == "Insufficient Data: 5 datapoints were unknown."
    filled = decide(config("breaching"), points("- - - - -"))
    assert filled.reason == ("Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints "
                             "were treated as [Breaching].")
