"""The shape of the code: one event's path from request to Slack stays short (README "Development")."""

from tests.event_trace import trace


def test_one_event_takes_at_most_13_hops_across_10_files_from_request_to_slack():
    hops = trace()
    files = {path for path, _ in hops}
    assert ("guard/core/decision.py", "decide") in hops  # the core decides once per event
    assert [function for _, function in hops].count("decide") == 1
    assert ("guard/adapters/slack.py", "SlackNotifier.send") in hops  # and the trace reached Slack
    assert len(hops) <= 13, hops  # 12, and the writer thread handing the decision back (issue 21)
    assert len(files) <= 10, files
