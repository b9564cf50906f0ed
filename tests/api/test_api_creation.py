"""Which JSON creates run inline on the event loop (services/api/creation.py)."""

from __future__ import annotations

from services.api.creation import signing_may_block


class _Refreshing:
    def __init__(self, due: bool) -> None:
        self.due = due

    def signing_may_block(self) -> bool:
        return self.due


def test_only_a_backend_that_says_so_is_presigned_in_the_thread_pool() -> None:
    assert not signing_may_block(object())  # the local backend: an HMAC, never the network
    assert not signing_may_block(_Refreshing(False))
    assert signing_may_block(_Refreshing(True))
