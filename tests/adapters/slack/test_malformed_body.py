"""Slack HTTP endpoint: a signed body that is not a JSON object is a 400, never a 500 (fuzz findings)."""

from __future__ import annotations

import pytest

from tests.adapters.conftest import Served, dm_event, event_body, slack_headers

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("1", JSON), ("true", JSON), ("null", JSON), ("[]", JSON), ('"text"', JSON),
        ("999999999999999999999999999999", JSON), ("{not json", JSON), (" ", JSON),
        ("payload=1", FORM), ("payload=%5B%5D", FORM), ("payload=null", FORM), ("payload=%7Bnot", FORM),
    ],
)
async def test_signed_body_that_is_not_a_json_object_is_400(served: Served, body: str, content_type: str) -> None:
    headers = slack_headers(body, content_type=content_type)
    response = await served.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "malformed_body"}


async def test_body_that_is_not_utf8_is_400(served: Served) -> None:
    body = b'{"type": "\xff"}'
    headers = slack_headers(body.decode("latin-1"), content_type=JSON)
    response = await served.client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 400


async def test_a_well_formed_event_still_passes(served: Served) -> None:
    body = event_body(dm_event("hello"))
    response = await served.client.post("/slack/events", content=body, headers=slack_headers(body))
    assert response.status_code == 200
