"""deploy/docker-compose*.yml: resolves, matches the Compose spec, and agrees with the code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from deploy_common import (  # noqa: E402
    DEPLOY,
    longest_task_hard_limit_s,
    settings_from_env,
    unknown_env_keys,
)
from deploy_compose import (  # noqa: E402
    InterpolationError,
    duration_s,
    load,
    read_env_file,
    referenced_variables,
    schema_errors,
)

from shared.settings import Settings  # noqa: E402
from shared.storage.s3 import LIFECYCLE_RULE_ID  # noqa: E402
from shared.tasks import QUEUE_ENHANCE, QUEUES  # noqa: E402

BASE = DEPLOY / "docker-compose.yml"
CPU = DEPLOY / "docker-compose.cpu.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
APP_SERVICES = ("api", "enhancer", "upsampler", "cleanup", "beat")
WORKERS = ("enhancer", "upsampler", "cleanup")
SECRETS = {
    "REDIS_PASSWORD": "redis-secret-0123",
    "MINIO_ROOT_PASSWORD": "minio-root-secret-01",
    "SPEAKUP_S3_SECRET_KEY": "s3-app-secret-0123",
    "SPEAKUP_SIGNING_SECRET": "signing-secret-0123456789abcdef",
}


def example_env() -> dict[str, str]:
    """.env.example with its empty secrets filled in, as an operator would."""
    env = read_env_file(ENV_EXAMPLE)
    return {k: (v or SECRETS.get(k, "")) for k, v in env.items()}


@pytest.fixture(scope="module")
def base() -> dict:
    return load([BASE], example_env())


@pytest.fixture(scope="module")
def cpu() -> dict:
    return load([BASE, CPU], example_env())


def service_env(model: dict, name: str) -> dict[str, str]:
    env = model["services"][name].get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def test_every_empty_example_value_is_a_secret_the_test_fills() -> None:
    empty = {k for k, v in read_env_file(ENV_EXAMPLE).items() if not v}
    assert empty == set(SECRETS)


@pytest.mark.parametrize("files", [[BASE], [BASE, CPU]], ids=["gpu", "gpu+cpu-override"])
def test_resolved_files_match_the_compose_specification(files: list[Path]) -> None:
    model = load(files, example_env())
    assert schema_errors(model) == []
    assert set(model["services"]) == {"redis", "minio", "bucket-init", *APP_SERVICES}


def test_schema_check_catches_mistakes(base: dict) -> None:
    broken = json.loads(json.dumps(base))
    broken["services"]["api"]["depends_on"]["redis"]["condition"] = "service_ready"
    broken["services"]["enhancer"]["healthcheck"]["intervall"] = "5s"
    assert len(schema_errors(broken)) >= 2


def _compose_cli() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose` (v1): both resolve without an engine."""
    if (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30
        ).returncode
        == 0
    ):
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_compose_cli_resolves_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no `docker compose` plugin nor `docker-compose` here; schema check above ran")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in example_env().items()))
    # v1 knows no `!reset`, so it checks the base file only; the v2 plugin checks both
    files = [BASE] + ([CPU] if cli == ["docker", "compose"] else [])
    done = subprocess.run(
        [*cli, *[a for f in files for a in ("-f", str(f))], "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # and the CLI's interpolation agrees with the one the schema check used
    resolved = yaml.safe_load(done.stdout)["services"]
    ours = load(files, example_env())["services"]
    for name in APP_SERVICES:
        assert {k: str(v) for k, v in resolved[name]["environment"].items()} == service_env(
            {"services": ours}, name
        )
        assert resolved[name].get("command") == ours[name].get("command")


@pytest.mark.parametrize("secret", sorted(SECRETS) + ["SPEAKUP_S3_ACCESS_KEY", "MINIO_ROOT_USER"])
def test_missing_secret_stops_compose_with_its_name(secret: str) -> None:
    env = example_env()
    env[secret] = ""
    with pytest.raises(InterpolationError, match=secret):
        load([BASE], env)


def test_env_example_documents_every_variable_and_no_dead_one() -> None:
    used = referenced_variables(BASE.read_text()) | referenced_variables(CPU.read_text())
    documented = set(read_env_file(ENV_EXAMPLE)) - {"COMPOSE_PROJECT_NAME"}
    assert used == documented, (used - documented, documented - used)


@pytest.mark.parametrize("files", [[BASE], [BASE, CPU]], ids=["gpu", "cpu"])
def test_speakup_env_keys_are_settings_and_validate(files: list[Path]) -> None:
    model = load(files, example_env())
    for name in APP_SERVICES:
        env = service_env(model, name)
        assert not unknown_env_keys(set(env)), (name, unknown_env_keys(set(env)))
        settings = settings_from_env(env)  # pydantic validators run here
        assert settings.redis_url.startswith("redis://:") and "@redis:6379/" in settings.redis_url
        if name != "beat":
            assert settings.storage_backend == "s3" and settings.s3_endpoint_url


def test_secrets_go_only_where_they_are_used(base: dict) -> None:
    holders = {n for n in APP_SERVICES if "SPEAKUP_SIGNING_SECRET" in service_env(base, n)}
    assert holders == {"api", "cleanup"}  # job tokens, webhook signatures
    assert "SPEAKUP_S3_SECRET_KEY" not in service_env(base, "beat")
    app_keys = {service_env(base, n).get("SPEAKUP_S3_ACCESS_KEY") for n in WORKERS + ("api",)}
    assert app_keys == {example_env()["SPEAKUP_S3_ACCESS_KEY"]}
    assert example_env()["SPEAKUP_S3_ACCESS_KEY"] != example_env()["MINIO_ROOT_USER"]


def test_redis_keeps_jobs_across_restarts_and_never_evicts(base: dict) -> None:
    redis = base["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert "--requirepass" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_bucket_init_makes_a_private_bucket_with_the_apps_lifecycle_rule(base: dict) -> None:
    init = base["services"]["bucket-init"]
    assert init["restart"] == "no" and init["depends_on"]["minio"]["condition"] == "service_healthy"
    script = (DEPLOY / "minio" / "init.sh").read_text()
    for step in (
        "mc mb --ignore-existing",
        "mc anonymous set none",
        "mc ilm import",
        "mc admin user add",
        "mc admin policy attach",
    ):
        assert step in script
    (rule,) = json.loads((DEPLOY / "minio" / "lifecycle.json").read_text())["Rules"]
    assert rule["ID"] == LIFECYCLE_RULE_ID  # the rule shared/storage/s3.py writes
    assert rule["Filter"] == {"Prefix": "jobs/"} and rule["Status"] == "Enabled"
    assert rule["Expiration"]["Days"] == Settings.model_fields["bucket_lifecycle_days"].default
    policy = json.loads((DEPLOY / "minio" / "app-policy.json").read_text())
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::__BUCKET__", "arn:aws:s3:::__BUCKET__/jobs/*"}


def test_startup_is_health_gated(base: dict) -> None:
    services = base["services"]
    for name, service in services.items():
        if name != "bucket-init":
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for target, rule in service.get("depends_on", {}).items():
            condition = rule["condition"]
            if target == "bucket-init":
                assert condition == "service_completed_successfully"
            elif target in {"redis", "minio"}:
                assert condition == "service_healthy" and "healthcheck" in services[target]
    for name in ("api", *WORKERS):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "bucket-init" in services[name]["depends_on"]


def test_enhancer_reserves_one_gpu_and_runs_one_task(base: dict, cpu: dict) -> None:
    enhancer = base["services"]["enhancer"]
    (device,) = enhancer["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == 1
    assert device["capabilities"] == ["gpu"]
    command = enhancer["command"]
    assert command[command.index("-Q") + 1] == QUEUE_ENHANCE
    assert command[command.index("--concurrency") + 1] == "1"
    assert command[command.index("--prefetch-multiplier") + 1] == "1"
    assert "reservations" not in cpu["services"]["enhancer"]["deploy"]["resources"]
    assert cpu["services"]["enhancer"]["command"] == command


def test_every_queue_has_exactly_one_consuming_service(base: dict) -> None:
    consumed = []
    for name in APP_SERVICES:
        command = base["services"][name].get("command", [])  # api: the image's CMD
        if "worker" in command:
            consumed.append(command[command.index("-Q") + 1])
    assert sorted(consumed) == sorted(QUEUES)
    beats = [n for n in APP_SERVICES if "beat" in base["services"][n].get("command", [])]
    assert beats == ["beat"] and "deploy" not in base["services"]["beat"]


def test_stop_grace_outlasts_the_longest_task(base: dict) -> None:
    for name in ("enhancer", "upsampler"):
        settings = settings_from_env(service_env(base, name))
        hard_s = longest_task_hard_limit_s(settings)
        assert duration_s(base["services"][name]["stop_grace_period"]) > hard_s
        assert settings.broker_visibility_timeout_s > hard_s, "else a long task runs twice"


def test_app_containers_are_hardened(base: dict) -> None:
    for name in APP_SERVICES:
        service = base["services"][name]
        assert service["read_only"] is True
        assert any(t.startswith("/tmp") for t in service["tmpfs"])
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert "privileged" not in service and "user" not in service  # images run as 10001


def test_duration_parser() -> None:
    assert duration_s("80m") == 4800 and duration_s("1h30m") == 5400
    with pytest.raises(ValueError):
        duration_s("80 minutes")
