"""Job state in Redis: one hash per job, a sorted set of deadlines, a sorted set of running jobs.

Every status change is a compare-and-set (a Lua script): it names the statuses it may leave from,
so a stage delivered twice, or a late worker, can never move a job backwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import redis

from shared.jobs.model import ALLOWED_FROM, RUNNING, Job, JobOptions, JobStatus

PREFIX = "speakup"
DEADLINES = f"{PREFIX}:deadlines"
RUNNING_SET = f"{PREFIX}:running"
_JSON_FIELDS = ("options", "input", "engine", "metrics", "error", "output", "deletion", "attempts",
                "timeline")
_DUMMY_HASH = hashlib.sha256(b"no such job").hexdigest()

# KEYS: job, deadlines, running. ARGV: target, allowed-from csv, now-iso, fields-json,
# deadline ('' keep, 'none' remove, else score), job id, now-unix, running ('1' add, '0' remove)
_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
local ok = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then ok = true end end
if not ok then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'stage', ARGV[1], 'updated_at', ARGV[3])
for k, v in pairs(cjson.decode(ARGV[4])) do redis.call('HSET', KEYS[1], k, v) end
local tl = cjson.decode(redis.call('HGET', KEYS[1], 'timeline') or '[]')
table.insert(tl, {ARGV[1], ARGV[3]})
redis.call('HSET', KEYS[1], 'timeline', cjson.encode(tl))
if ARGV[5] == 'none' then
  redis.call('ZREM', KEYS[2], ARGV[6]); redis.call('HDEL', KEYS[1], 'deadline_at')
elseif ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6]); redis.call('HSET', KEYS[1], 'deadline_at', ARGV[5])
end
if ARGV[8] == '1' then redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6])
else redis.call('ZREM', KEYS[3], ARGV[6]) end
return 1
"""

# KEYS: job, deadlines, running. ARGV: job id, deadline score, running score ('' not running),
# then the hash's field/value pairs. One round trip, atomic as the MULTI/EXEC it replaces.
_CREATE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
return 1
"""

# KEYS: job. ARGV: expected status, progress, now-iso
_PROGRESS = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
local p = tonumber(redis.call('HGET', KEYS[1], 'progress') or '0')
if tonumber(ARGV[2]) <= p then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[2], 'updated_at', ARGV[3])
return 1
"""

# KEYS: job. ARGV: sha256 of the presented token. The whole hash only on a match, so an unknown id
# and a wrong token cost the same (one short HGET, nothing returned): no existence oracle.
_AUTHENTICATE = """
local stored = redis.call('HGET', KEYS[1], 'token_hash')
if not stored or stored ~= ARGV[1] then return nil end
return redis.call('HGETALL', KEYS[1])
"""

KEEP = object()  # deadline sentinel: leave it as it is


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class JobStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis: Any = client  # decode_responses=True: str in, str out
        self._create = client.register_script(_CREATE)
        self._transition = client.register_script(_TRANSITION)
        self._progress = client.register_script(_PROGRESS)
        self._authenticate = client.register_script(_AUTHENTICATE)

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=30,
                                        socket_timeout=10, socket_connect_timeout=5))

    @staticmethod
    def key(job_id: str) -> str:
        return f"{PREFIX}:job:{job_id}"

    # -- create and read
    def create(self, job_id: str, token_hash: str, options: JobOptions, status: JobStatus,
               deadline_at: float, client: str | None = None) -> Job:
        keys, args, mapping = _create_call(job_id, token_hash, options, status, deadline_at,
                                           client)
        self._create(keys=keys, args=args)
        # The hash holds exactly `mapping` (a fresh 128-bit id): no need to read it back.
        return _to_job(mapping)

    def get(self, job_id: str) -> Job | None:
        raw = self.redis.hgetall(self.key(job_id))
        if not raw:
            return None
        return _to_job(raw)

    def authenticate(self, job_id: str, token: str) -> Job | None:
        """The job if `token` is its token; None for an unknown id or a wrong token alike.

        One round trip whose cost does not depend on whether the id exists: Redis compares the
        token's SHA-256 (attacker-chosen input is hashed first, so the comparison leaks nothing
        useful) and returns the job only on a match; the match is re-checked in constant time.
        """
        presented, key = _presented(job_id, token)
        return _authenticated(self._authenticate(keys=[key], args=[presented]), presented)

    # -- change
    def transition(self, job_id: str, target: JobStatus, *, deadline_at: Any = KEEP,
                   **fields: Any) -> bool:
        """Move to `target` if the current status may lead there; set `fields` with it."""
        allowed = ",".join(s.value for s in ALLOWED_FROM[target])
        if deadline_at is KEEP:
            deadline = ""
        elif deadline_at is None:
            deadline = "none"
        else:
            deadline = repr(float(deadline_at))
        encoded = {k: _encode(v) for k, v in fields.items()}
        if target in (JobStatus.SUCCEEDED, JobStatus.DOWNLOADED):
            encoded.setdefault("progress", "1")
        result = self._transition(
            keys=[self.key(job_id), DEADLINES, RUNNING_SET],
            args=[target.value, allowed, now_iso(), json.dumps(encoded), deadline, job_id,
                  repr(time.time()), "1" if target in RUNNING else "0"],
        )
        return int(result) == 1

    def set_progress(self, job_id: str, status: JobStatus, progress: float) -> bool:
        """Raise progress while the job is still in `status`; never lowers it."""
        value = f"{min(max(progress, 0.0), 1.0):.4f}"
        return int(self._progress(keys=[self.key(job_id)],
                                  args=[status.value, value, now_iso()])) == 1

    def merge(self, job_id: str, field: str, values: dict[str, Any]) -> None:
        """Merge `values` into a JSON object field (metrics, input, engine) atomically."""
        key = self.key(job_id)

        def update(pipe: redis.client.Pipeline) -> None:
            current = json.loads(pipe.hget(key, field) or "{}") or {}
            current.update(values)
            pipe.multi()
            pipe.hset(key, field, json.dumps(current))

        self.redis.transaction(update, key)

    def incr_attempt(self, job_id: str, stage: str) -> int:
        key = self.key(job_id)
        result: list[int] = []

        def update(pipe: redis.client.Pipeline) -> None:
            attempts = json.loads(pipe.hget(key, "attempts") or "{}")
            attempts[stage] = int(attempts.get(stage, 0)) + 1
            result[:] = [attempts[stage]]
            pipe.multi()
            pipe.hset(key, "attempts", json.dumps(attempts))

        self.redis.transaction(update, key)
        return result[0]

    def set_fields(self, job_id: str, **fields: Any) -> None:
        self.redis.hset(self.key(job_id), mapping={k: _encode(v) for k, v in fields.items()})

    def set_deadline(self, job_id: str, at: float | None) -> None:
        pipe = self.redis.pipeline()
        if at is None:
            pipe.zrem(DEADLINES, job_id)
            pipe.hdel(self.key(job_id), "deadline_at")
        else:
            pipe.zadd(DEADLINES, {job_id: at})
            pipe.hset(self.key(job_id), "deadline_at", repr(at))
        pipe.execute()

    def expire_record(self, job_id: str, ttl_s: int) -> None:
        """Let the tombstone vanish after `ttl_s` (the deletion receipt is kept until then)."""
        self.redis.expire(self.key(job_id), ttl_s)

    # -- queries for the cleanup worker
    def due(self, now: float, limit: int) -> list[str]:
        return list(self.redis.zrangebyscore(DEADLINES, "-inf", now, start=0, num=limit))

    def stuck(self, older_than: float, limit: int) -> list[str]:
        return list(self.redis.zrangebyscore(RUNNING_SET, "-inf", older_than, start=0, num=limit))

    def touch_running(self, job_id: str) -> None:
        self.redis.zadd(RUNNING_SET, {job_id: time.time()}, xx=True)

    def all_ids(self) -> set[str]:
        ids: set[str] = set()
        for key in self.redis.scan_iter(match=f"{PREFIX}:job:*", count=500):
            ids.add(key.split(":", 2)[2])
        return ids

    # -- idempotency: Idempotency-Key → job id, for as long as the upload may take
    def idempotent_job(self, scope: str, key: str) -> str | None:
        return self.redis.get(f"{PREFIX}:idem:{_digest(scope, key)}")

    def remember_idempotent(self, scope: str, key: str, job_id: str, ttl_s: int) -> str:
        """Store key → job id unless another request stored it first; returns the winner."""
        name = f"{PREFIX}:idem:{_digest(scope, key)}"
        if self.redis.set(name, job_id, nx=True, ex=ttl_s):
            return job_id
        return self.redis.get(name) or job_id

    def ping(self) -> bool:
        return bool(self.redis.ping())


class AsyncJobStore:
    """The api's event-loop side of the store (redis.asyncio): the calls on its hot paths, with
    the same scripts and keys as `JobStore`, so a request never holds the loop while Redis
    answers. Under CPU contention that wait, not the CPU, filled the loop (load_workers2.md)."""

    def __init__(self, client: Any) -> None:
        self.redis: Any = client  # redis.asyncio.Redis, decode_responses=True
        self._create = client.register_script(_CREATE)
        self._authenticate = client.register_script(_AUTHENTICATE)

    async def create(self, job_id: str, token_hash: str, options: JobOptions, status: JobStatus,
                     deadline_at: float, client: str | None = None) -> Job:
        keys, args, mapping = _create_call(job_id, token_hash, options, status, deadline_at,
                                           client)
        await self._create(keys=keys, args=args)
        return _to_job(mapping)

    async def authenticate(self, job_id: str, token: str) -> Job | None:
        """As `JobStore.authenticate`."""
        presented, key = _presented(job_id, token)
        return _authenticated(await self._authenticate(keys=[key], args=[presented]), presented)


def _create_call(job_id: str, token_hash: str, options: JobOptions, status: JobStatus,
                 deadline_at: float, client: str | None) -> tuple[list[str], list[str],
                                                                  dict[str, str]]:
    """Keys and arguments of the create script, and the hash it writes."""
    ts = now_iso()
    mapping = {
        "id": job_id, "token_hash": token_hash, "status": status.value, "stage": status.value,
        "progress": "0", "created_at": ts, "updated_at": ts,
        "options": options.model_dump_json(), "metrics": "{}", "attempts": "{}",
        "timeline": json.dumps([[status.value, ts]]), "deadline_at": str(deadline_at),
        "client": client or "",
    }
    running = repr(time.time()) if status in RUNNING else ""
    fields = [x for pair in mapping.items() for x in pair]
    keys = [JobStore.key(job_id), DEADLINES, RUNNING_SET]
    return keys, [job_id, mapping["deadline_at"], running, *fields], mapping


def _presented(job_id: str, token: str) -> tuple[str, str]:
    """The presented token's hash and the key to look it up under."""
    return hash_token(token), JobStore.key(job_id if _plausible_id(job_id) else "invalid")


def _authenticated(flat: list[str] | None, presented: str) -> Job | None:
    if not flat:
        return None
    raw = dict(zip(flat[::2], flat[1::2], strict=True))
    if not hmac.compare_digest(raw.get("token_hash", _DUMMY_HASH), presented):
        return None
    return _to_job(raw)


def _digest(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


_PLAUSIBLE_ID = re.compile(r"[0-9A-Za-z_-]{8,64}")


def _plausible_id(job_id: str) -> bool:
    return _PLAUSIBLE_ID.fullmatch(job_id) is not None


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump"):
        return json.dumps(value.model_dump(mode="json"))
    return json.dumps(value)


def _to_job(raw: dict[str, str]) -> Job:
    data: dict[str, Any] = {k: v for k, v in raw.items() if k != "token_hash"}
    for name in _JSON_FIELDS:
        if name in data:
            data[name] = json.loads(data[name]) if data[name] else None
    data["metrics"] = data.get("metrics") or {}
    data["attempts"] = data.get("attempts") or {}
    data["timeline"] = [tuple(x) for x in data.get("timeline") or []]
    data["progress"] = float(data.get("progress") or 0)
    data["deadline_at"] = float(data["deadline_at"]) if data.get("deadline_at") else None
    data["client"] = data.get("client") or None
    data["downloaded_at"] = data.get("downloaded_at") or None
    return Job.model_validate(data)
