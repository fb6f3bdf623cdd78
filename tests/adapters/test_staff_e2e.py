"""The staff helpdesk on Slack end to end: real runtime on Redis, the Slack API stood in."""

from __future__ import annotations

import pytest

from tests.adapters.staff_support import (
    LEAD,
    STAFF_CHANNEL,
    Drive,
    text_of,
)


@pytest.fixture
def drive(staff_drive: Drive) -> Drive:
    return staff_drive


async def test_procedure_question_in_the_staff_channel_cites_the_sop(drive: Drive) -> None:
    posts = await drive.staff_says("how do I do a return without a receipt?", channel=STAFF_CHANNEL, expect_posts=1)
    answer = posts[-1]
    assert answer.params["channel"] == STAFF_CHANNEL
    assert "Return without a receipt" in text_of(answer) and "return_without_receipt" in text_of(answer)
    assert "manager override" in text_of(answer)  # the SOP's steps, not a paraphrase


async def test_stock_lookup_per_store(drive: Drive) -> None:
    posts = await drive.staff_says("how many ringer tees in midtown", channel=STAFF_CHANNEL, expect_posts=1)
    text = text_of(posts[-1])
    assert "Organic Cotton Ringer Tee" in text and "at Northwind Midtown" in text
    assert "NW-TEE-001-NVY-XS" in text and "Harbourfront" not in text
    posts = await drive.staff_command("stock NW-TEE-001-NVY-XS", user="U0ANY", expect_posts=2)
    table = text_of(posts[-1])
    # Every store's available units for the one SKU, as in inventory.csv (5, 1, 7).
    row = next(line for line in table.splitlines() if "NW-TEE-001-NVY-XS" in line)
    assert row.split()[-3:] == ["5", "1", "7"]


async def test_order_lookup_is_refused_unless_authorised(drive: Drive) -> None:
    posts = await drive.staff_command("look up order #1001", user="U0STRANGER", expect_posts=1)
    refused = text_of(posts[-1])
    assert "authorised staff" in refused
    assert "Ava" not in refused and "1001" not in refused and "delivered" not in refused
    posts = await drive.staff_command("look up order #1001", user=LEAD, expect_posts=2)
    answer = text_of(posts[-1])
    assert "Order #1001" in answer and "Ava Cohen" in answer and "delivered" in answer
    assert "ava.cohen@example.com" not in answer  # contact details stay masked
