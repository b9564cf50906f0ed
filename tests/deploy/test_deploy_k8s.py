"""deploy/k8s: the overlays build, every object validates against the Kubernetes schemas (via the
kubernetes-validate package, strict, for one fixed Kubernetes version) and the KEDA objects
against the CRD schemas in deploy/k8s/crds/; KEDA triggers match the Celery queues."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from deploy_common import (  # noqa: E402
    K8S,
    OVERLAYS,
    build_overlay,
    build_overlay_in_python,
    build_overlay_with_kubectl,
    by_kind,
    kubectl,
    load_docs,
)

from shared.tasks import QUEUE_ENHANCE, QUEUE_UPSAMPLE  # noqa: E402

K8S_VERSION = "1.30.0"  # oldest minor still in wide use; every field here exists there
BUILDS = ("base", *OVERLAYS)
CRD_DIR = K8S / "crds"
REDIS_SCALER_KEYS = {  # KEDA 2.x redis (list) scaler metadata
    "address",
    "addressFromEnv",
    "host",
    "hostFromEnv",
    "port",
    "portFromEnv",
    "username",
    "usernameFromEnv",
    "password",
    "passwordFromEnv",
    "listName",
    "listLength",
    "activationListLength",
    "databaseIndex",
    "enableTLS",
    "unsafeSsl",
}


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → strict JSON schema from each CRD's openAPIV3Schema."""
    out = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        (crd,) = load_docs(path)
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            out[(api_version, crd["spec"]["names"]["kind"])] = strict(
                version["schema"]["openAPIV3Schema"]
            )
    return out


def strict(schema: Any) -> Any:
    """Reject unknown fields (the API server would silently prune them: a typo'd field would
    just vanish), like kubeconform -strict. `x-kubernetes-*` markers are dropped."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def validate(obj: dict[str, Any], crds: dict[tuple[str, str], dict[str, Any]]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in crds:
        jsonschema.Draft7Validator(crds[key]).validate(obj)
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    return crd_schemas()


@pytest.mark.parametrize("build", BUILDS)
def test_every_built_object_validates(build: str, crds: dict) -> None:
    objects = build_overlay(build)
    assert len(objects) >= 25
    for obj in objects:
        validate(obj, crds)


def test_every_manifest_file_validates(crds: dict) -> None:
    """Files as written (patches are partial objects and are checked through the builds)."""
    files = [
        p
        for p in K8S.rglob("*.yaml")
        if p.name != "kustomization.yaml" and "patches" not in p.parts
    ]
    assert len(files) >= 15
    for path in files:
        for obj in load_docs(path):
            validate(obj, crds)  # the CRD files validate as CustomResourceDefinitions


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda so: so["spec"].pop("triggers"), "triggers"),
        (lambda so: so["spec"].update(maxReplicaCount="4"), "not of type 'integer'"),
        (lambda so: so["spec"]["triggers"][0]["metadata"].update(listLength=2), "not of type"),
        (lambda so: so["spec"].update(minReplicas=1), "Additional properties"),
        (
            lambda so: so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"][
                "scaleDown"
            ].update(stabilizationWindowSeconds=7200),
            "maximum",
        ),
    ],
)
def test_keda_schema_rejects_broken_scaled_objects(mutate, message: str, crds: dict) -> None:
    scaled = copy.deepcopy(by_kind(build_overlay("base"), "ScaledObject")["enhancer"])
    mutate(scaled)
    with pytest.raises(jsonschema.ValidationError, match=message):
        validate(scaled, crds)


def test_kubernetes_schema_rejects_a_typo() -> None:
    deployment = copy.deepcopy(by_kind(build_overlay("base"), "Deployment")["enhancer"])
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 10
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.parametrize("build", BUILDS)
def test_python_kustomize_subset_matches_kubectl(build: str) -> None:
    if not kubectl():
        pytest.skip("kubectl not installed: the builds above used the Python subset")

    def keyed(objects):
        return {
            (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects
        }

    assert keyed(build_overlay_in_python(build)) == keyed(build_overlay_with_kubectl(build))


@pytest.mark.parametrize("build", BUILDS)
def test_keda_scales_each_gpu_and_tf_worker_on_its_own_celery_queue(build: str) -> None:
    objects = build_overlay(build)
    scaled = by_kind(objects, "ScaledObject")
    deployments = by_kind(objects, "Deployment")
    auths = by_kind(objects, "TriggerAuthentication")
    assert set(scaled) == {"enhancer", "upsampler"}
    expected_queue = {"enhancer": QUEUE_ENHANCE, "upsampler": QUEUE_UPSAMPLE}
    for name, obj in scaled.items():
        spec = obj["spec"]
        target = deployments[spec["scaleTargetRef"]["name"]]
        assert spec["scaleTargetRef"]["kind"] == "Deployment" and target["metadata"]["name"] == name
        container = target["spec"]["template"]["spec"]["containers"][0]
        args = container["args"]
        (trigger,) = spec["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "redis" and set(meta) <= REDIS_SCALER_KEYS
        assert meta["listName"] == expected_queue[name] == args[args.index("-Q") + 1]
        assert args[args.index("--prefetch-multiplier") + 1] == "1"  # list length = backlog
        assert int(meta["listLength"]) >= 1 and int(meta["activationListLength"]) >= 0
        assert meta["databaseIndex"] == "0"  # the /0 of SPEAKUP_REDIS_URL
        # KEDA resolves addressFromEnv from the target container's env/envFrom
        config_refs = {e["configMapRef"]["name"] for e in container.get("envFrom", [])}
        config = by_kind(objects, "ConfigMap")
        assert any(meta["addressFromEnv"] in config[c]["data"] for c in config_refs)
        assert trigger["authenticationRef"]["name"] in auths
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        scale_down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert scale_down["stabilizationWindowSeconds"] >= 300, "slow scale-down"
        assert spec["cooldownPeriod"] >= 300


def test_prod_keeps_a_warm_gpu_worker_and_dev_can_sleep() -> None:
    prod = by_kind(build_overlay("prod"), "ScaledObject")
    dev = by_kind(build_overlay("dev"), "ScaledObject")
    assert prod["enhancer"]["spec"]["minReplicaCount"] >= 1
    assert prod["enhancer"]["spec"]["maxReplicaCount"] > dev["enhancer"]["spec"]["maxReplicaCount"]
    assert dev["enhancer"]["spec"]["minReplicaCount"] == 0
