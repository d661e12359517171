"""Schemathesis fuzzes every operation of the leaderboard's OpenAPI spec: no request may make it answer 5xx.

Requests carry a valid token (so the fuzzer gets past authentication into validation, uploads and the
database); entry 1 exists and belongs to that token's user, so weight uploads reach the checkpoint checks.
Bounded: a few examples per operation, no deadline (two shared cores).
"""

from __future__ import annotations

import pytest

pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

import schemathesis
from fixtures.leaderboard_factories import results_dict
from hypothesis import HealthCheck, settings

from nitrogen_leaderboard.schema import parse_results
from nitrogen_leaderboard.server import db
from nitrogen_leaderboard.server.app import create_app
from nitrogen_leaderboard.server.settings import ServerSettings

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """(app, token): a server with user alice and her entry 1, without a rate limit to hit."""
    settings_ = ServerSettings(
        data_dir=tmp_path_factory.mktemp("fuzz"), rate_limit_requests=10**9, max_body_bytes=1 << 20
    )
    app = create_app(settings_)
    pytest.importorskip("nitrogen_policies.nitrogen.policy_nitrogen")  # what the first upload imports (torch)
    with app.state.sessionmaker() as session:
        token = db.add_user(session, "alice")
        user = db.user_for_token(session, token)
        db.insert_results(session, user, parse_results(results_dict()))
    yield app, token
    app.state.engine.dispose()


@pytest.mark.slow
def test_no_request_makes_the_server_fail(fuzzed):
    """Every operation, ``MAX_EXAMPLES`` generated requests each (schemathesis' pytest plugin does not run
    under pytest 9, so the operations are driven through its Python API)."""
    from hypothesis import given

    app, token = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6  # health, submit, weights, withdraw, entry, board, me

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case):
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=60)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")

        run()
    assert failures == []
