"""deploy/k8s workloads agree with the code: settings keys and values, queue consumers, task
limits vs grace periods, probes on the heartbeat files, GPU, beat singleton, PDBs, pod security."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from deploy_common import (  # noqa: E402
    K8S,
    OVERLAYS,
    build_overlay,
    by_kind,
    load_docs,
    longest_task_hard_limit_s,
    pod_specs,
    settings_from_env,
    unknown_env_keys,
)

BUILDS = ("base", *OVERLAYS)
APP_DEPLOYMENTS = ("api", "enhancer", "upsampler", "cleanup-worker", "beat")
WORKERS = ("enhancer", "upsampler", "cleanup-worker")
NON_SETTINGS_CONFIG_KEYS = {"REDIS_ADDRESS"}  # host:port, for pods and KEDA alike
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def example_secret() -> dict[str, str]:
    (secret,) = load_docs(K8S / "overlays" / "dev" / "secret.example.yaml")
    return secret["stringData"]


def container_env(objects: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict:
    """The environment the kubelet would give this container (secrets from the dev example)."""
    config = by_kind(objects, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], item["value"])
        else:
            env[item["name"]] = example_secret()[item["valueFrom"]["secretKeyRef"]["key"]]
    return env


def app_containers(build: str):
    objects = build_overlay(build)
    for name in APP_DEPLOYMENTS:
        deployment = by_kind(objects, "Deployment")[name]
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield objects, deployment, container


@pytest.mark.parametrize("build", BUILDS)
def test_configmap_keys_are_settings_fields(build: str) -> None:
    data = by_kind(build_overlay(build), "ConfigMap")["speakup-config"]["data"]
    assert not unknown_env_keys(set(data))
    assert {k for k in data if not k.startswith("SPEAKUP_")} == NON_SETTINGS_CONFIG_KEYS
    assert all(isinstance(v, str) for v in data.values())


@pytest.mark.parametrize("build", BUILDS)
def test_each_container_builds_valid_settings(build: str) -> None:
    namespace = by_kind(build_overlay(build), "Namespace")
    (ns_name,) = namespace
    for objects, _deployment, container in app_containers(build):
        env = container_env(objects, container)
        assert not unknown_env_keys(set(env)), unknown_env_keys(set(env))
        settings = settings_from_env(env)  # pydantic validators run here
        assert settings.storage_backend == "s3"
        assert settings.redis_url.endswith(f"@redis.{ns_name}.svc.cluster.local:6379/0"), (
            "REDIS_ADDRESS must name the redis Service of this namespace (KEDA needs the FQDN)"
        )


@pytest.mark.parametrize("build", BUILDS)
def test_secret_refs_exist_and_go_only_where_used(build: str) -> None:
    keys = set(example_secret())
    holders: dict[str, set[str]] = {}
    for obj in build_overlay(build):
        if obj["kind"] == "TriggerAuthentication":
            assert {r["key"] for r in obj["spec"]["secretTargetRef"]} <= keys
    for spec_name, spec in pod_specs(build_overlay(build)).items():
        for container in spec["containers"]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "speakup-secrets" and ref["key"] in keys
                    holders.setdefault(ref["key"], set()).add(spec_name)
    assert set(holders) == keys, "the example Secret has exactly the keys the pods use"
    assert holders["SPEAKUP_SIGNING_SECRET"] == {"Deployment/api", "Deployment/cleanup-worker"}
    assert "Deployment/beat" not in holders["SPEAKUP_S3_SECRET_KEY"]


@pytest.mark.parametrize("build", BUILDS)
def test_grace_period_outlasts_the_longest_task(build: str) -> None:
    for objects, deployment, container in app_containers(build):
        name = deployment["metadata"]["name"]
        if name not in ("enhancer", "upsampler"):
            continue
        settings = settings_from_env(container_env(objects, container))
        hard_s = longest_task_hard_limit_s(settings)
        grace_s = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace_s > hard_s, f"{name}: SIGKILL before a {hard_s:.0f} s task ends"
        assert settings.broker_visibility_timeout_s > grace_s, "else a long task runs twice"
        # SIGTERM = Celery warm shutdown; no preStop hook that would eat into the grace period
        assert "lifecycle" not in container


@pytest.mark.parametrize("build", BUILDS)
def test_probes_http_for_api_heartbeat_files_for_workers(build: str) -> None:
    for objects, deployment, container in app_containers(build):
        name = deployment["metadata"]["name"]
        probes = {
            k: container[k]
            for k in ("startupProbe", "livenessProbe", "readinessProbe")
            if k in container
        }
        text = repr(probes)
        assert "inspect" not in text and "ping" not in text
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        if name == "api":
            ports = {p["name"] for p in container["ports"]}
            assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert all(p["httpGet"]["port"] in ports for p in probes.values())
        elif name in WORKERS:
            heartbeat = container_env(objects, container)["SPEAKUP_WORKER_HEARTBEAT_FILE"]
            assert any(heartbeat.startswith(m + "/") for m in mounts), "on the writable /tmp"
            liveness = " ".join(probes["livenessProbe"]["exec"]["command"])
            assert f"stat -c %Y {heartbeat}" in liveness and "-lt 60" in liveness
            for kind in ("startupProbe", "readinessProbe"):
                assert probes[kind]["exec"]["command"] == ["test", "-f", heartbeat + ".ready"]
        else:  # beat: no consumer, so its schedule file is the sign of life
            assert "/tmp/celerybeat-schedule" in " ".join(
                probes["livenessProbe"]["exec"]["command"]
            )
            assert "/tmp/celerybeat-schedule" in container["args"]


@pytest.mark.parametrize("build", BUILDS)
def test_enhancer_gpu_limit_and_beat_singleton(build: str) -> None:
    objects = build_overlay(build)
    deployments = by_kind(objects, "Deployment")
    resources = deployments["enhancer"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    gpu = resources["limits"].get("nvidia.com/gpu")
    assert gpu == (None if build == "dev" else 1), "dev runs the enhancer's CPU path"
    assert (
        "nvidia.com/gpu" not in resources.get("requests", {})
        or resources["requests"]["nvidia.com/gpu"] == gpu
    )
    beat = deployments["beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    scaled_targets = {
        o["spec"]["scaleTargetRef"]["name"]
        for o in objects
        if o["kind"] in {"ScaledObject", "HorizontalPodAutoscaler"}
    }
    assert "beat" not in scaled_targets and "api" in scaled_targets
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["api"]["spec"]
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]


@pytest.mark.parametrize("build", BUILDS)
def test_every_deployment_has_a_pdb_that_can_be_satisfied(build: str) -> None:
    objects = build_overlay(build)
    pdbs = by_kind(objects, "PodDisruptionBudget")
    for name in APP_DEPLOYMENTS:
        deployment = by_kind(objects, "Deployment")[name]
        pdb = pdbs[name]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pdb["selector"]["matchLabels"].items() <= labels.items()
        if deployment["spec"]["replicas"] == 1:  # a drain must not block forever
            assert pdb.get("maxUnavailable", 0) >= 1 or pdb.get("minAvailable") == 0


@pytest.mark.parametrize("build", BUILDS)
def test_pods_meet_the_restricted_pod_security_standard(build: str) -> None:
    objects = build_overlay(build)
    (namespace,) = by_kind(objects, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, spec in pod_specs(objects).items():
        pod = spec.get("securityContext", {})
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert pod.get("runAsUser", 1) != 0 and spec.get("automountServiceAccountToken") is False
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= RESTRICTED_VOLUMES, (name, volume)
        for container in spec.get("initContainers", []) + spec["containers"]:
            ctx = container["securityContext"]
            assert pod.get("runAsNonRoot") or ctx.get("runAsNonRoot"), name
            assert ctx["allowPrivilegeEscalation"] is False and not ctx.get("privileged")
            assert ctx["capabilities"]["drop"] == ["ALL"] and not ctx["capabilities"].get("add")
            assert ctx["readOnlyRootFilesystem"] is True
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{name}: writable /tmp"
            assert "memory" in container["resources"]["limits"], name


@pytest.mark.parametrize("build", BUILDS)
def test_services_ingress_and_images_line_up(build: str) -> None:
    objects = build_overlay(build)
    services = by_kind(objects, "Service")
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
    }
    for name, service in services.items():
        template = pods[name]
        assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
        ports = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        assert all(p["targetPort"] in ports for p in service["spec"]["ports"])
    ingress = by_kind(objects, "Ingress")["api"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "api" and backend["port"]["name"] in {
        p["name"] for p in services["api"]["spec"]["ports"]
    }
    for spec in pod_specs(objects).values():
        for container in spec["containers"]:
            image = container["image"]
            assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), image
            if build == "prod" and "speakup/" in image:
                assert image.startswith("registry.example.com/speakup/")
