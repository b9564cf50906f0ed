"""The job state machine on a real Redis: compare-and-set, no regressions, deadlines, tokens."""

from __future__ import annotations

import secrets
import threading
import time

import pytest
import redis

from shared.jobs.model import ALLOWED_FROM, JobOptions, JobStatus, can_move
from shared.jobs.store import JobStore, hash_token

S = JobStatus


@pytest.fixture
def store(redis_server) -> JobStore:
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushdb()
    return JobStore(client)


def _new(store: JobStore, status: JobStatus = S.AWAITING_UPLOAD) -> tuple[str, str]:
    job_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
    store.create(job_id, hash_token(token), JobOptions(), status, time.time() + 60)
    return job_id, token


def test_happy_path_records_a_timeline(store):
    job_id, _ = _new(store)
    for target in (S.QUEUED, S.ENHANCING, S.UPSAMPLING, S.SUCCEEDED, S.DOWNLOADED, S.PURGED):
        assert store.transition(job_id, target), target
    job = store.get(job_id)
    assert job.status == S.PURGED
    assert [s for s, _ in job.timeline] == ["awaiting_upload", "queued", "enhancing",
                                            "upsampling", "succeeded", "downloaded", "purged"]
    assert job.progress == 1.0


def test_duplicate_delivery_never_moves_a_job_backwards(store):
    job_id, _ = _new(store, S.QUEUED)
    assert store.transition(job_id, S.ENHANCING)
    assert store.transition(job_id, S.UPSAMPLING)
    # a late second delivery of the enhance stage tries to claim the job again
    assert not store.transition(job_id, S.ENHANCING)
    assert not store.transition(job_id, S.QUEUED)
    assert store.get(job_id).status == S.UPSAMPLING
    assert store.transition(job_id, S.SUCCEEDED)
    assert not store.transition(job_id, S.FAILED)  # finished jobs cannot fail afterwards
    assert store.get(job_id).status == S.SUCCEEDED


def test_concurrent_claims_have_exactly_one_winner(store):
    job_id, _ = _new(store, S.QUEUED)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(store.transition(job_id, S.ENHANCING))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_transition_table_matches_can_move():
    for target, sources in ALLOWED_FROM.items():
        for status in S:
            assert can_move(status, target) == (status in sources)
    assert not can_move(S.SUCCEEDED, S.FAILED)
    assert not can_move(S.PURGED, S.QUEUED)


def test_progress_only_rises_and_only_in_its_stage(store):
    job_id, _ = _new(store, S.QUEUED)
    store.transition(job_id, S.ENHANCING)
    assert store.set_progress(job_id, S.ENHANCING, 0.3)
    assert not store.set_progress(job_id, S.ENHANCING, 0.2)
    assert not store.set_progress(job_id, S.UPSAMPLING, 0.9)
    assert store.get(job_id).progress == pytest.approx(0.3)


def test_tokens_are_stored_only_as_hashes_and_checked(store):
    job_id, token = _new(store)
    raw = store.redis.hgetall(store.key(job_id))
    assert token not in "".join(raw.values())
    assert raw["token_hash"] == hash_token(token)
    assert store.authenticate(job_id, token).id == job_id
    assert store.authenticate(job_id, token + "x") is None
    other_id, other_token = _new(store)
    assert store.authenticate(job_id, other_token) is None
    assert store.authenticate("no-such-job-id-123", token) is None


def test_deadlines_and_attempts(store):
    job_id, _ = _new(store)
    store.set_deadline(job_id, time.time() - 1)
    assert job_id in store.due(time.time(), 10)
    store.set_deadline(job_id, None)
    assert job_id not in store.due(time.time(), 10)
    assert [store.incr_attempt(job_id, "enhance") for _ in range(3)] == [1, 2, 3]
    assert store.get(job_id).attempts == {"enhance": 3}


def test_merge_keeps_other_keys(store):
    job_id, _ = _new(store)
    store.merge(job_id, "metrics", {"input_lufs": -20.0})
    store.merge(job_id, "metrics", {"output_lufs": -16.0})
    assert store.get(job_id).metrics == {"input_lufs": -20.0, "output_lufs": -16.0}


@pytest.mark.parametrize("status", [S.AWAITING_UPLOAD, S.QUEUED])
def test_create_returns_exactly_what_it_stored(store, status):
    # create() writes in one script and builds its answer locally instead of reading it back
    job_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
    options = JobOptions(preset="video", title="a talk", webhook_url="https://example.com/h")
    deadline_at = time.time() + 60
    created = store.create(job_id, hash_token(token), options, status, deadline_at, client="c")
    assert created == store.get(job_id) == store.authenticate(job_id, token)
    assert store.redis.zscore("speakup:deadlines", job_id) == deadline_at
    assert (store.redis.zscore("speakup:running", job_id) is not None) == (status == S.QUEUED)
    assert store.redis.hget(store.key(job_id), "token_hash") == hash_token(token)
