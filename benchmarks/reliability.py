"""The reliability table: every figure of the fault, hostile-input, security and load tests (what
was tried, how many times, what happened), from the JSON the tests wrote.

    SPEAKUP_FIGURES_DIR=benchmarks/results/figures .venv/bin/pytest tests/faults tests/hostile \\
        tests/security tests/load
    .venv/bin/python -m benchmarks.reliability     # → benchmarks/results/reliability.md
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
FIGURES = RESULTS / "figures"

Row = tuple[str, str, str]  # what was tried, how many times, what happened
F = dict[str, Any]


def _kill(stage: str) -> Callable[[F], Row]:
    return lambda f: (
        f"SIGKILL the {stage} worker's pool process mid-task, job after job",
        f"{f['kills']} kills",
        f"{f['succeeded']}/{f['kills']} succeeded; attempts per job {f['attempts']}; outputs per "
        f"job {f['outputs_per_job']}; completion webhooks per job {f['webhooks_per_job']} "
        f"({f['webhooks_signed_ok']} signatures valid); redelivered stage ≤ "
        f"{f['redelivered_stage_s_max']} s; {f['wall_s']} s in all")


ROWS: dict[str, Callable[[F], Row]] = {
    "kill_enhancer": _kill("enhance"),
    "kill_upsampler": _kill("upsample"),
    "kill_always": lambda f: (
        "a job whose worker dies on every delivery", f"{f['kills']} kills",
        f"ended `{f['final']}` after {f['attempts']} deliveries in {f['seconds']} s; no further "
        f"delivery; the worker then took the next job: {f['next_job']}"),
    "kill_tempdirs": lambda f: (
        "audio left on local disk by killed stages", f"{f['killed_processes']} killed processes",
        f"{f['roots_of_dead_processes']} temp roots of dead processes, "
        f"{f['stray_stage_dirs']} stray stage dirs, {f['left_in_live']} files in live ones"),
    "duplicate_visibility_timeout": lambda f: (
        f"visibility timeout ({f['visibility_timeout_s']} s) shorter than the task: the message "
        "re-queued while its first delivery still runs, a second worker takes it", "1 job",
        f"deliveries {f['deliveries']}; {f['final']}; states {' → '.join(f['states'])}; "
        f"polled status/progress only forward: {f['observed_forward_only']}; outputs "
        f"{f['outputs']}; webhooks {f['webhooks']}"),
    "duplicate_after_success": lambda f: (
        "enhance + upsample messages re-sent for a finished job", f"{f['duplicates_sent']} "
        "messages", f"{f['skipped']} skipped as no-ops; attempts {f['attempts']}; job unchanged; "
        f"webhooks {f['webhooks']}"),
    "redis_restart": lambda f: (
        "Redis stopped and restarted (AOF on) while jobs queue and one runs",
        f"{f['jobs']} jobs, {f['outage_s']} s outage",
        f"{f['succeeded']}/{f['jobs']} succeeded, {f['lost']} lost; enhance queue before/after "
        f"{f['enhance_queue_before_after']}; {f['running_at_restart']} running job cut off, "
        f"re-enqueued by the sweeper ({f['sweeper_requeues']} sweeper re-enqueues in all); api "
        f"answers while Redis was down {f['api_answers_during_outage']}; all done "
        f"{f['all_done_after_s']} s after the stop"),
    "s3_outage": lambda f: (
        "S3 server stopped, restarted on the same port with its data", f"{f['jobs']} jobs, "
        f"{f['outage_s']} s outage", f"{f['succeeded']}/{f['jobs']} succeeded; {f['task_retries']}"
        f" task retries with backoff + jitter; /readyz {f['readyz_during_outage']} meanwhile; all "
        f"done {f['all_done_after_s']} s after the stop"),
    "sigterm_main_process": lambda f: (
        "SIGTERM to a busy enhancer (main process, as Kubernetes does)", f"{f['jobs']} jobs",
        f"running task {f['running_task']}, worker exited {f['exit_code']} after {f['exit_s']} s;"
        f" waiting jobs stayed {f['queued_while_down']}; {f['succeeded']}/{f['jobs']} succeeded"),
    "sigterm_process_group": lambda f: (
        "SIGTERM to a busy enhancer's whole process group", f"{f['jobs']} jobs",
        f"running task {f['running_task']} (attempts {f['attempts_first']}), worker exited "
        f"{f['exit_code']} after {f['exit_s']} s; {f['succeeded']}/{f['jobs']} succeeded"),
    "hostile": lambda f: (
        "hostile and malformed inputs through the real stack (multipart route)",
        f"{f['cases']} kinds", f"{f['failed_as_expected']} failed with their specific code "
        f"({', '.join(f['codes'])}) within {f['max_seconds_to_fail']} s of enhancing; "
        f"{f['decoded_as_expected']} odd-but-valid files decoded and succeeded; refused at the "
        f"api: {f['refused_at_api']}; worker pool restarts {f['worker_pool_restarts']}; worker "
        f"peak RSS {f['worker_peak_rss_mb']} MiB; {f['erased_after_ttl']} jobs erased after the "
        f"TTL; wrong: {len(f['wrong'])}"),
    "presigned_limits": lambda f: (
        "upload over the presigned size / with another content type", "2",
        f"S3 answered {f['over_size']} (EntityTooLarge) / {f['other_content_type']}; submit "
        f"then {f['submit_after']} upload_missing"),
    "content_types": lambda f: (
        "wrong content types at the api (multipart part and JSON create)",
        f"{len(f['refused'])} types", f"all {set(f['refused'].values())}; text body "
        f"{f['text_body']}"),
    "not_found_timing": lambda f: (
        "no token / wrong token / another job's token / unknown id",
        f"{f['requests_per_variant']} requests each", f"one identical 404 body; medians "
        f"{f['median_ms']} ms (spread {f['spread_ms']} ms)"),
    "tokens_in_redis": lambda f: (
        "every Redis key and value scanned for job tokens", f"{f['tokens']} tokens, "
        f"{f['keys_scanned']} keys", f"{f['found_in_clear']} found in the clear (hashes only)"),
    "job_ids": lambda f: (
        "job ids", f"{f['samples']} ids", f"{f['length']} URL-safe characters, {f['bits']} "
        f"random bits, longest shared prefix {f['longest_shared_prefix']}"),
    "rate_limit": lambda f: (
        "job creation past the per-client limit", f"{f['limit_per_minute']}/min + 1",
        f"{f['status_after_limit']} with Retry-After {f['retry_after_s']} s; another client "
        "unaffected"),
    "body_limits": lambda f: (
        "bodies over the limits", "4", f"multipart {f['multipart_over']}, chunked "
        f"{f['chunked_over']}, declared size {f['declared_over']}, 200 kB JSON {f['json_200kB']}"),
    "ssrf": lambda f: (
        "webhook URLs into loopback/private/link-local/mapped ranges", f"{f['targets']} URLs",
        f"{f['refused_by_api']} refused at creation (422), {f['refused_by_worker_check']} by "
        "the worker's send-time check; all allowed only by configuration"),
    "upload_url_expiry": lambda f: (
        "presigned upload after its expiry", f"expiry {f['expiry_s']} s",
        f"S3 answered {f['status_after_expiry']}"),
    "download_url_expiry": lambda f: (
        "presigned download after its expiry", f"expiry {f['expiry_s']} s",
        f"S3 answered {f['status_after']}"),
    "download_after_purge": lambda f: (
        "download URL after DELETE", "1", f"S3 answered {f['status_after_delete']}; "
        f"{f['objects_left']} objects left; receipt {f['receipt']}; result route "
        f"{f['result_route_after']}"),
    "webhook_signatures": lambda f: (
        "webhook signatures (body, timestamp, signature, secret tampered; replay after 5 min)",
        f"{f['deliveries']} deliveries", f"{f['valid']} valid; {f['tampered_rejected']} "
        "tampered variants rejected"),
    "secrets_in_logs": lambda f: (
        "every process log of a whole run + /metrics scanned", f"{f['log_files']} logs, "
        f"{f['log_bytes']} B", f"tokens/URLs/signatures found: {f['found']}; audio windows "
        f"found {f['audio_hits']}/{f['audio_windows_checked']}"),
    "audit": lambda f: (
        "nightly audit: an orphan prefix and a purged job's straggler object planted beside live "
        "jobs", f"{f['planted']} planted", f"{f['deleted_right']}/{f['planted']} deleted, "
        f"{f['deleted']} deletions in all; live jobs kept {f['live_jobs_kept']}/2"),
    "schemathesis": lambda f: (
        "schemathesis on the live OpenAPI spec (positive + negative, then stateful)",
        f"{f['requests']} requests ({f['stateful_requests']} stateful, {f['jobs_created']} "
        "jobs)", f"{f['server_errors']} server errors, {f['failures']} schema/status "
        f"violations; statuses {f['statuses']}"),
    "load_short": lambda f: (
        "5 s load in the test suite", f"{f['polls']['requests']} polls, "
        f"{f['creates']['requests']} creates", f"polls {f['polls']['requests_per_s']}/s p99 "
        f"{f['polls']['p99_ms']} ms; creates {f['creates']['requests_per_s']}/s p99 "
        f"{f['creates']['p99_ms']} ms; errors {f['polls']['errors'] + f['creates']['errors']} "
        f"(load average {f['load_average_1min']})"),
    "jobs_burst_short": lambda f: (
        "short jobs created at once through the real stack", f"{f['jobs']} jobs",
        f"{f['succeeded']} succeeded, {f['lost']} lost; queue wait p50/p95/max "
        f"{f['queue_to_start_s']['p50']}/{f['queue_to_start_s']['p95']}/"
        f"{f['queue_to_start_s']['max']} s"),
}


def build(figures: Path = FIGURES) -> str:
    note = os.environ.get("SPEAKUP_FIGURES_NOTE", "the load of the run: see its closing note")
    lines = ["# Reliability figures", "",
             "Every figure measured by tests/faults, tests/hostile, tests/security and tests/load "
             "on the real stack (redis-server, ministack S3, uvicorn, Celery worker processes; "
             f"127.0.0.1 only), on a 2-core machine ({note}). Regenerate: see "
             "benchmarks/reliability.py.",
             "",
             "| what was tried | how many | what happened |", "|---|---|---|"]
    for name, row in ROWS.items():
        path = figures / f"{name}.json"
        if not path.exists():
            lines.append(f"| {name} | – | not measured in this run |")
            continue
        try:
            tried, times, happened = row(json.loads(path.read_text()))
        except KeyError as exc:
            lines.append(f"| {name} | – | figure file lacks {exc}: rerun the test |")
            continue
        lines.append(f"| {tried} | {times} | {happened.replace('|', '/')} |")
    for extra in ("load_workers2.md", "load.md", "jobs.md", "stages.md"):
        if (RESULTS / extra).exists():
            lines += ["", (RESULTS / extra).read_text().strip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    figures = Path(os.environ.get("SPEAKUP_FIGURES_DIR", FIGURES))
    (RESULTS / "reliability.md").write_text(build(figures))
    print(RESULTS / "reliability.md")


if __name__ == "__main__":
    main()
