"""The adapters' early repeat check, shared by Slack and Telegram."""

from __future__ import annotations

import logging

from core.errors import StorageError
from core.protocols import SessionStore

logger = logging.getLogger(__name__)


async def first_delivery(store: SessionStore, scope: str, delivery_id: str) -> bool:
    """True unless ``store`` has seen this delivery; True as well when the store cannot be asked.

    Failing open is safe: the dialogue checks the delivery again inside its
    conversation (:meth:`~core.protocols.SessionStore.hold`) and answers with
    a polite "try again" while the store is away, so a platform redelivery
    during a Redis failover is never answered twice and never left unanswered.
    """
    try:
        return await store.first_delivery(scope, delivery_id)
    except StorageError as error:
        logger.warning("delivery check skipped (store unavailable): %s", error)
        return True
