"""A value back after the guard removed it: alerted, never removed again (no loop), and nothing else taken for it."""

from dataclasses import replace
from datetime import timedelta

import pytest

from guard.core.actions import decide_removal
from guard.core.activity import Activity
from guard.core.alerts import AlertKind
from guard.core.decision import decide
from guard.core.statuses import RemediationStatus
from guard.core.verdict import Kind
from tests.core.decisions import FLEX_ID, KEY, RULES, SLACK, T0, after, flex, snapshot
from tests.helpers import ANN_URI

REMEDIATE = replace(RULES, remediate=True)
DSCULLY = {"twilio_contact_identity": "dscully"}
WRONG = "client:dscully"  # another user's identity: a value a login could write
AVAILABLE = Activity("WA" + "1" * 32, "Available", available=True)
OFFLINE = Activity("WA" + "2" * 32, "Offline", available=False)


def removal(value, actor="guard (REMEDIATE=remove)"):
    """A remediation that removed `value`."""
    return (RemediationStatus.REMOVED, value, "removed", actor)


def test_a_value_flex_writes_back_after_its_removal_is_alerted_and_not_removed_again():
    # The identity really changed (at the IdP): Flex writes client:dscully at every login; removing it each time
    # would take the agent off voice at every login, a loop
    drift = after(flex(1), flex(2, **DSCULLY, contact_uri="client:dscully"), rules=REMEDIATE)
    assert drift.remove
    removed = decide_removal(KEY, drift.state, "fmulder", removal("client:dscully"), SLACK, T0).state
    echo = decide(flex(3, **DSCULLY, contact_uri=None), removed, REMEDIATE, T0)  # the removal's own update
    back = decide(flex(4, **DSCULLY, contact_uri="client:dscully"), echo.state, REMEDIATE, T0)  # the next login
    assert (back.verdict.kind, back.alert.kind, back.remove) == (Kind.MISMATCH, AlertKind.DRIFT, False)
    assert "came back after the guard removed it" in back.alert.note and back.alert.came_back
    other = decide(flex(5, **DSCULLY, contact_uri="client:dscully2"), back.state, REMEDIATE, T0)
    assert other.remove  # another wrong value is removed as usual
    fixed = decide(flex(6), back.state, REMEDIATE, T0)
    assert fixed.verdict.kind is Kind.OK and fixed.state.removed is None  # an accepted value ends the watch


def test_a_js_form_past_latin_1_that_comes_back_is_not_removed_again():
    # The identity changed at the IdP to 李明, written in the JS form (a code unit per escape, 4 hex digits)
    li = {"twilio_contact_identity": "_674E_660E", "contact_uri": "client:_674E_660E"}
    drift = after(flex(1), flex(2, **li), rules=REMEDIATE)
    assert drift.remove
    removed = decide_removal(KEY, drift.state, "fmulder", removal("client:_674E_660E"), SLACK, T0).state
    echo = decide(flex(3, **{**li, "contact_uri": None}), removed, REMEDIATE, T0)
    back = decide(flex(4, **li), echo.state, REMEDIATE, T0)  # Flex writes it again at the next login
    assert (back.verdict.kind, back.remove, back.alert.came_back) == (Kind.MISMATCH, False, True)


def test_a_value_no_flex_login_writes_is_removed_again_when_a_script_puts_it_back():
    # sip:ann never rang and no login writes it: removing it again takes nobody off voice
    drift = after(snapshot(ANN_URI), snapshot("sip:ann", version=2), rules=REMEDIATE)
    removed = decide_removal(KEY, drift.state, "ann.veal", removal("sip:ann"), SLACK, T0).state
    echo = decide(snapshot(None, version=3, at=T0 + timedelta(seconds=1)), removed, REMEDIATE, T0).state
    script = snapshot("sip:ann", version=4, at=T0 + timedelta(seconds=2))  # the nightly sync script, again
    back = decide(script, echo, REMEDIATE, T0)
    assert back.remove and "came back" not in back.alert.note


def test_a_removal_against_an_older_stored_value_leaves_the_worker_pending_and_watched():
    # The guard had Ann ok; the update to client:dscully was missed (the guard was down); an audit removed it
    ok = after(flex(1)).state
    late = decide_removal(
        KEY, ok, "fmulder", removal("client:dscully", "audit:lucille"), SLACK, T0 + timedelta(hours=1)
    )
    assert (late.state.verdict.kind, late.state.verdict.actual, late.state.removed) == (
        Kind.PENDING,
        None,
        "client:dscully",
    )


def test_an_older_copy_of_the_removed_update_is_stale_not_a_value_that_came_back():
    # Both intakes deliver the drift's update (same WorkerVersion, other event ids), and an audit's fetch taken
    # before the removal is fed after it: neither is the value coming back
    drift = decide(snapshot("client:dscully", version=2), after(snapshot(ANN_URI)).state, REMEDIATE, T0)
    removed = decide_removal(KEY, drift.state, "ann.veal", removal("client:dscully"), SLACK, T0 + timedelta(seconds=5))
    copy = replace(snapshot("client:dscully", version=2), source="event-streams")
    fetched = replace(snapshot("client:dscully", version=None, at=T0 + timedelta(seconds=1)), source="audit")
    for older in (copy, fetched):
        decision = decide(older, removed.state, REMEDIATE, T0 + timedelta(seconds=30))
        assert decision.outcome == "stale" and decision.state is None and decision.alert is None


def at(snapshot, moment):
    """`snapshot` as TaskRouter stamped it at `moment`."""
    return replace(snapshot, occurred_ms=int(moment.timestamp() * 1000))


def test_an_update_made_before_the_removal_and_delivered_after_it_counts_without_the_value_removed_since():
    # v3 (T0+1s) moved the agent to Available, value unchanged; the removal was recorded at T0+5s and v3 delivered
    # after it (a retry, Event Streams): its activity is the newest the guard has, and its value is the one the
    # removal took away since, not one that came back: an Available agent with no value, paged as such
    drift = after(flex(1), replace(at(flex(2, contact_uri=WRONG), T0), activity=OFFLINE), rules=REMEDIATE)
    removed = decide_removal(KEY, drift.state, "guard", removal(WRONG), SLACK, T0 + timedelta(seconds=5)).state
    late = replace(at(flex(3, contact_uri=WRONG), T0 + timedelta(seconds=1)), activity=AVAILABLE)
    decision = decide(late, removed, REMEDIATE, T0 + timedelta(seconds=8))
    assert (decision.state.available, decision.verdict.kind, decision.verdict.actual) == (True, Kind.PENDING, None)
    assert decision.alert.kind is AlertKind.URGENT and not decision.alert.came_back and not decision.remove
    assert decision.state.version == 3 and decision.state.removed == WRONG  # still watched for a login writing it


def test_a_later_edit_made_before_the_removal_raises_no_came_back_message_with_only_the_intended_button():
    # A script wrote the wrong value (v2) and edited a skill a moment later (v3); the guard removed the value
    # after both, and v3 arrived late: TaskRouter holds v3's skills and no value, nothing came back
    drift = after(flex(1), at(flex(2, contact_uri=WRONG), T0), rules=REMEDIATE)
    removed = decide_removal(KEY, drift.state, "guard", removal(WRONG), SLACK, T0 + timedelta(seconds=5)).state
    late = at(flex(3, contact_uri=WRONG, routing={"skills": ["fr"]}), T0 + timedelta(seconds=1))
    decision = decide(late, removed, REMEDIATE, T0 + timedelta(seconds=8))
    assert (decision.verdict.kind, decision.alert, decision.remove) == (Kind.PENDING, None, False)
    assert "skills" in decision.state.attributes and WRONG not in decision.state.attributes
    # A login that writes it back after the removal is the value come back, as before
    back = decide(at(flex(4, contact_uri=WRONG), T0 + timedelta(seconds=9)), decision.state, REMEDIATE, T0)
    assert back.verdict.kind is Kind.MISMATCH and back.alert.came_back and not back.remove


def test_a_value_put_back_in_the_second_of_the_removal_still_came_back_when_stamped_in_whole_seconds():
    # A callback without TimestampMs is stamped in whole seconds: T0+5s may be just after a removal at T0+5.3s
    drift = after(flex(1), at(flex(2, contact_uri=WRONG), T0), rules=REMEDIATE)
    removal_at = T0 + timedelta(seconds=5, milliseconds=300)
    removed = decide_removal(KEY, drift.state, "guard", removal(WRONG), SLACK, removal_at).state
    seconds = replace(at(flex(3, contact_uri=WRONG), T0 + timedelta(seconds=5)), whole_seconds=True)
    assert decide(seconds, removed, REMEDIATE, T0).alert.came_back
    to_the_ms = at(flex(3, contact_uri=WRONG), T0 + timedelta(seconds=5))  # a TimestampMs ending in 000: before it
    assert decide(to_the_ms, removed, REMEDIATE, T0).verdict.kind is Kind.PENDING
    before = at(flex(3, contact_uri=WRONG), T0 + timedelta(seconds=5, milliseconds=100))  # TimestampMs: before it
    assert decide(before, removed, REMEDIATE, T0).verdict.kind is Kind.PENDING


def test_the_other_intakes_copy_is_stale_also_when_this_clock_is_behind_taskrouters():
    sent = T0 + timedelta(seconds=2)  # TaskRouter's stamp; the guard removed at T0+1s by its own clock
    drift = after(flex(1), at(flex(2, **DSCULLY, contact_uri="client:dscully"), sent), rules=REMEDIATE)
    removed = decide_removal(KEY, drift.state, "fmulder", removal("client:dscully"), SLACK, T0 + timedelta(seconds=1))
    copy = replace(at(flex(2, **DSCULLY, contact_uri="client:dscully"), sent), source="event-streams")
    assert decide(copy, removed.state, REMEDIATE, T0 + timedelta(seconds=3)).outcome == "stale"


def test_a_removal_recorded_after_newer_events_leaves_the_state_they_left():
    # The guard sends its update at T0+2s; its own event and the agent's login (Flex writes the right value) are
    # recorded before the removal is: the agent can take calls, and the removal's record must not say otherwise
    drift = after(flex(1), replace(at(flex(2, contact_uri=WRONG), T0), activity=AVAILABLE), rules=REMEDIATE)
    sent_ms = int((T0 + timedelta(seconds=2)).timestamp() * 1000)
    echo = replace(at(flex(3, contact_uri=None), T0 + timedelta(seconds=3)), activity=AVAILABLE)
    echoed = decide(echo, drift.state, REMEDIATE, T0 + timedelta(seconds=3))
    login = decide(replace(at(flex(4), T0 + timedelta(seconds=9)), activity=AVAILABLE), echoed.state, REMEDIATE,
                   T0 + timedelta(seconds=9))  # fmt: skip
    assert login.state.verdict.kind is Kind.OK
    late = decide_removal(KEY, login.state, "guard", removal(WRONG), SLACK, T0 + timedelta(seconds=10),
                          activity=OFFLINE, sent_ms=sent_ms)  # fmt: skip
    assert (late.state.verdict.kind, late.state.available, late.state.version) == (Kind.OK, True, 4)
    assert late.alert.kind is AlertKind.REMEDIATION and "unreachable" not in late.alert.note
    # The same value written back (the identity changed at the IdP): it stands, watched as come back
    back = decide(at(flex(4, contact_uri=WRONG), T0 + timedelta(seconds=9)), echoed.state, REMEDIATE,
                  T0 + timedelta(seconds=9))  # fmt: skip
    kept = decide_removal(KEY, back.state, "guard", removal(WRONG), SLACK, T0 + timedelta(seconds=10),
                          sent_ms=sent_ms)  # fmt: skip
    assert (kept.state.verdict.kind, kept.state.verdict.actual, kept.state.came_back) == (Kind.MISMATCH, WRONG, True)
    # The drift it removed, still stored when it is recorded (a later edit too): the worker is pending, as before
    edited = decide(at(flex(3, contact_uri=WRONG, team="x"), T0 + timedelta(seconds=1)), drift.state, REMEDIATE,
                    T0 + timedelta(seconds=5))  # fmt: skip
    for stored in (drift.state, edited.state):
        plain = decide_removal(KEY, stored, "guard", removal(WRONG), SLACK, T0 + timedelta(seconds=10),
                               sent_ms=sent_ms)  # fmt: skip
        assert (plain.state.verdict.kind, plain.state.removed) == (Kind.PENDING, WRONG)


def test_a_value_put_back_after_the_update_was_sent_came_back_however_late_the_removal_is_recorded():
    drift = after(flex(1), at(flex(2, contact_uri=WRONG), T0), rules=REMEDIATE)
    sent_ms = int((T0 + timedelta(seconds=1)).timestamp() * 1000)
    removed = decide_removal(KEY, drift.state, "guard", removal(WRONG), SLACK, T0 + timedelta(seconds=30),
                             sent_ms=sent_ms).state  # fmt: skip
    back = at(flex(3, contact_uri=WRONG), T0 + timedelta(seconds=1, milliseconds=400))  # a script, 0.4 s after
    decision = decide(back, removed, REMEDIATE, T0 + timedelta(seconds=31))
    assert decision.verdict.kind is Kind.MISMATCH and decision.alert.came_back and not decision.remove


def test_a_value_back_after_another_wrong_one_was_removed_meanwhile_is_not_removed_again():
    # Flex writes client:dscully at every login and a script writes the raw email in between: watching only the
    # last value removed, the login's was removed at every login, the agent off voice each time (an outsider's loop)
    raw = "client:" + FLEX_ID["email"]
    drift = after(flex(1), flex(2, **DSCULLY, contact_uri=WRONG), rules=REMEDIATE)
    removed = decide_removal(KEY, drift.state, "fmulder", removal(WRONG), SLACK, T0).state
    echo = decide(flex(3, **DSCULLY, contact_uri=None), removed, REMEDIATE, T0).state
    script = decide(flex(4, **DSCULLY, contact_uri=raw), echo, REMEDIATE, T0)
    assert script.remove  # a value no login writes: removed again, as ever
    removed = decide_removal(KEY, script.state, "fmulder", removal(raw), SLACK, T0).state
    echo = decide(flex(5, **DSCULLY, contact_uri=None), removed, REMEDIATE, T0).state
    back = decide(flex(6, **DSCULLY, contact_uri=WRONG), echo, REMEDIATE, T0)  # the next login
    assert (back.remove, back.alert.came_back) == (False, True)
    assert "came back after the guard removed it" in back.alert.note
    fixed = decide(flex(7), back.state, REMEDIATE, T0)
    assert (fixed.state.removed, fixed.state.watched) == (None, ())  # an accepted value ends the watch


def written_in_turn(values):
    """Write each value in turn (None: the right one, a login's), removing as REMEDIATE=remove does; what went."""
    state, removed = decide(flex(1), None, REMEDIATE, T0).state, []
    for version, value in enumerate(values, start=1):
        changes = {} if value is None else {**DSCULLY, "contact_uri": value}
        decision = decide(flex(10 * version, **changes), state, REMEDIATE, T0)
        state = decision.state
        if decision.remove:
            removed.append(value)
            state = decide_removal(KEY, state, "fmulder", removal(value), SLACK, T0).state
            state = decide(flex(10 * version + 1, **{**changes, "contact_uri": None}), state, REMEDIATE, T0).state
    return removed


@pytest.mark.parametrize(
    "scripts",
    [("client:old1",), ("client:old1", "client:raw@example.com"), ("client:old1", "client:old2"), ("sip:x", "sip:y")],
)
def test_a_login_value_is_removed_once_whatever_values_scripts_write_between_its_returns(scripts):
    # Watching two values, a script's value in the login's form pushed the login's out: it went at every login
    removed = written_in_turn([WRONG, *scripts, WRONG, *scripts, WRONG])
    assert removed.count(WRONG) == 1, removed


def test_the_watch_ends_with_an_accepted_value():
    assert written_in_turn([WRONG, "sip:x", None, WRONG]) == [WRONG, "sip:x", WRONG]


@pytest.mark.parametrize("whole_seconds", [True, False])
def test_a_value_put_back_in_the_second_of_a_whole_second_drift_and_its_removal_came_back(whole_seconds):
    # The drift's callback had no TimestampMs (T0+5s, made at 5.1 s); removed at 5.3 s; a script writes it back at 5.6 s
    drift_at = T0 + timedelta(seconds=5)
    drift = after(flex(1), replace(at(flex(2, contact_uri=WRONG), drift_at), whole_seconds=True), rules=REMEDIATE)
    removal_at = drift_at + timedelta(milliseconds=300)
    removed = decide_removal(KEY, drift.state, "guard", removal(WRONG), SLACK, removal_at).state
    back_at = drift_at if whole_seconds else drift_at + timedelta(milliseconds=600)
    back = replace(at(flex(3, contact_uri=WRONG), back_at), whole_seconds=whole_seconds)
    assert decide(back, removed, REMEDIATE, T0).alert.came_back
