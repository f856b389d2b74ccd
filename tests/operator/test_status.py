"""The operator's status fields from what it observed: phases, conditions, and what it never writes."""

from h1bot_api import status as api
from h1bot_operator.secret_refs import SecretsState
from h1bot_operator.status import Observed, changed, compute

OK = SecretsState(checksum="sha256:1")
MISSING = SecretsState(checksum=None, missing=("Secret ns/creds not found",))
READY = {"status": {"readyReplicas": 1}}
NOT_READY = {"status": {}}
T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def conditions(status: dict) -> dict:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_ready_deployment_is_running():
    status = compute("b", Observed(generation=3, secrets=OK, deployment=READY), {}, now=T0)
    assert status["phase"] == api.RUNNING and status["observedGeneration"] == 3
    assert conditions(status) == {api.READY: ("True", "BotRunning"), api.SECRETS_RESOLVED: ("True", "Resolved"),
                                  api.DEPLOYMENT_AVAILABLE: ("True", "MinimumReplicasAvailable")}
    assert status["deployment"] == {"name": "h1bot-b", "readyReplicas": 1}
    assert status["secretsChecksum"] == "sha256:1"
    assert set(status) <= set(api.OPERATOR_FIELDS)


def test_not_ready_is_pending_first_and_degraded_after_running():
    pending = compute("b", Observed(generation=1, secrets=OK, deployment=NOT_READY), {}, now=T0)
    assert pending["phase"] == api.PENDING
    degraded = compute("b", Observed(generation=1, secrets=OK, deployment=NOT_READY), {"phase": api.RUNNING}, now=T0)
    assert degraded["phase"] == api.DEGRADED


def test_missing_secrets_say_which():
    status = compute("b", Observed(generation=1, secrets=MISSING, deployment=None), {}, now=T0)
    assert conditions(status)[api.SECRETS_RESOLVED] == ("False", "SecretMissing")
    assert status["conditions"][0]["message"] == "Secret ns/creds not found"
    assert status["phase"] == api.PENDING and "secretsChecksum" not in status


def test_invalid_spec_fails_and_suspended_says_so():
    failed = compute("b", Observed(generation=2, config_error="spec.model.name: Field required"), {}, now=T0)
    assert failed["phase"] == api.FAILED
    assert conditions(failed)[api.READY] == ("False", "InvalidSpec")
    suspended = compute("b", Observed(generation=1, secrets=OK, suspended=True, deployment=NOT_READY), {}, now=T0)
    assert suspended["phase"] == api.SUSPENDED
    assert conditions(suspended)[api.DEPLOYMENT_AVAILABLE] == ("False", "Suspended")


def test_transition_time_moves_only_when_a_condition_flips():
    first = compute("b", Observed(generation=1, secrets=OK, deployment=READY), {}, now=T0)
    same = compute("b", Observed(generation=1, secrets=OK, deployment=READY), first, now=T1)
    assert same == first and not changed(same, first)
    flipped = compute("b", Observed(generation=1, secrets=OK, deployment=NOT_READY), same, now=T1)
    times = {c["type"]: c["lastTransitionTime"] for c in flipped["conditions"]}
    assert times == {api.READY: T1, api.SECRETS_RESOLVED: T0, api.DEPLOYMENT_AVAILABLE: T1}


def test_bot_owned_fields_are_never_produced():
    previous = {"runtime": {"overrides": {}}, "slack": {"botUserId": "U1"}, "phase": api.RUNNING}
    status = compute("b", Observed(generation=1, secrets=OK, deployment=READY), previous, now=T0)
    assert not set(status) & set(api.BOT_FIELDS)


def test_replicas_show_how_many_of_them_are_ready():
    two_of_three = {"spec": {"replicas": 3}, "status": {"readyReplicas": 2}}
    status = compute("b", Observed(generation=1, secrets=OK, deployment=two_of_three), {}, now=T0)
    available = next(c for c in status["conditions"] if c["type"] == api.DEPLOYMENT_AVAILABLE)
    assert (available["status"], available["message"]) == ("True", "2/3 bot pods ready")
    assert status["phase"] == api.RUNNING and status["deployment"]["readyReplicas"] == 2
    none = compute("b", Observed(generation=1, secrets=OK, deployment={"spec": {"replicas": 3}}), {}, now=T0)
    assert next(c for c in none["conditions"] if c["type"] == api.DEPLOYMENT_AVAILABLE)["message"] == \
        "0/3 bot pods ready"


REVOKED = {"ready": False, "reason": api.SLACK_AUTH_REVOKED, "pod": "h1bot-b-1", "at": T0,
           "message": "Slack auth revoked: auth.test answered token_revoked (renew the bot token)"}


def test_a_bot_that_says_it_cannot_answer_is_not_ready_and_says_why():
    # Its failing /readyz leaves 0 pods ready: the bot's reason is shown, not "0/1 bot pods ready".
    status = compute("b", Observed(generation=1, secrets=OK, deployment=NOT_READY), {"bot": REVOKED}, now=T0)
    assert conditions(status)[api.READY] == ("False", "BotNotReady")
    assert status["conditions"][0]["message"] == (
        "the bot cannot answer (SlackAuthRevoked): Slack auth revoked: auth.test answered token_revoked"
        " (renew the bot token)")
    assert status["phase"] == api.DEGRADED
    assert conditions(status)[api.DEPLOYMENT_AVAILABLE] == ("False", "Unavailable")
    assert "bot" not in status  # read, never written by the operator


def test_a_bot_that_says_it_is_ready_changes_nothing_and_the_spec_and_secrets_come_first():
    healthy = {"ready": True, "reason": api.BOT_READY, "message": "connected", "pod": "p", "at": T0}
    status = compute("b", Observed(generation=1, secrets=OK, deployment=READY), {"bot": healthy}, now=T0)
    assert conditions(status)[api.READY] == ("True", "BotRunning")
    missing = compute("b", Observed(generation=1, secrets=MISSING, deployment=None), {"bot": REVOKED}, now=T0)
    assert conditions(missing)[api.READY] == ("False", "SecretsUnresolved")
    broken = compute("b", Observed(generation=1, config_error="spec.model: Field required"), {"bot": REVOKED}, now=T0)
    assert conditions(broken)[api.READY] == ("False", "InvalidSpec")


def test_one_replicas_dropped_link_does_not_mark_a_bot_whose_other_pods_are_ready():
    dropped = {"ready": False, "reason": api.SLACK_DISCONNECTED, "message": "not connected to Slack (Socket Mode)",
               "pod": "h1bot-b-2", "at": T0}
    one_of_two = {"spec": {"replicas": 2}, "status": {"readyReplicas": 1}}
    status = compute("b", Observed(generation=1, secrets=OK, deployment=one_of_two), {"bot": dropped}, now=T0)
    assert conditions(status)[api.READY] == ("True", "BotRunning")
    none_ready = compute("b", Observed(generation=1, secrets=OK, deployment=NOT_READY), {"bot": dropped}, now=T0)
    assert conditions(none_ready)[api.READY] == ("False", "BotNotReady")
