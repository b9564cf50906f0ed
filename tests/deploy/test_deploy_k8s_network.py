"""deploy/k8s NetworkPolicies, evaluated: which peers each SpeakUp pod may talk to.

Only the api is reachable from outside (through the ingress controller); workers accept nothing
and reach only DNS, Redis and S3 (the cleanup worker also webhook receivers on public addresses).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from deploy_common import OVERLAYS, build_overlay, by_kind  # noqa: E402

BUILDS = ("base", *OVERLAYS)
KUBE_DNS = "ns:kube-system/k8s-app=kube-dns"
DNS = {(KUBE_DNS, "UDP", 53), (KUBE_DNS, "TCP", 53)}
REDIS = {("pods:redis", "TCP", 6379)}
S3 = {("ip:0.0.0.0/0 except 169.254.0.0/16", "TCP", 443)}
PRIVATE = "10.0.0.0/8,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,172.16.0.0/12,192.168.0.0/16"
WEBHOOKS = {
    (f"ip:0.0.0.0/0 except {PRIVATE}", "TCP", 80),
    (f"ip:0.0.0.0/0 except {PRIVATE}", "TCP", 443),
}
DEV_MINIO = {("ns:minio/*", "TCP", 9000)}


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        ok = {
            "In": present and labels.get(key) in (values or []),
            "NotIn": not present or labels.get(key) not in (values or []),
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


def pod_labels(objects) -> dict[str, dict[str, str]]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
        for o in objects
        if o["kind"] in {"Deployment", "StatefulSet"}
    }


def describe(peer: dict[str, Any], objects) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        return f"ip:{block['cidr']} except {','.join(sorted(block.get('except', [])))}"
    if "namespaceSelector" in peer:
        namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        pods = peer.get("podSelector", {}).get("matchLabels", {})
        return f"ns:{namespace}/" + (",".join(f"{k}={v}" for k, v in pods.items()) or "*")
    selected = sorted(
        n for n, labels in pod_labels(objects).items() if matches(peer["podSelector"], labels)
    )
    return "pods:" + ",".join(selected)


def allowed(objects, component: str, direction: str) -> set[tuple[str, str, int]] | None:
    """(peer, protocol, port) the policies allow, None where no policy isolates the pod."""
    labels = pod_labels(objects)[component]
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolating = [
        p["spec"]
        for p in by_kind(objects, "NetworkPolicy").values()
        if direction in p["spec"]["policyTypes"] and matches(p["spec"]["podSelector"], labels)
    ]
    if not isolating:
        return None
    out = set()
    for spec in isolating:
        for rule in spec.get(key, []):
            assert rule.get(peers_key) and rule.get("ports"), f"{component}: an allow-all rule"
            for peer in rule[peers_key]:
                for port in rule["ports"]:
                    out.add((describe(peer, objects), port["protocol"], port["port"]))
    return out


@pytest.mark.parametrize("build", BUILDS)
def test_only_the_api_is_reachable_and_only_through_the_ingress(build: str) -> None:
    objects = build_overlay(build)
    assert allowed(objects, "api", "Ingress") == {
        ("ns:ingress-nginx/*", "TCP", 8000),
        ("ns:monitoring/*", "TCP", 8000),
    }
    for worker in ("enhancer", "upsampler", "cleanup-worker", "beat"):
        assert allowed(objects, worker, "Ingress") == set(), f"{worker} accepts connections"
    clients = "pods:api,beat,cleanup-worker,enhancer,upsampler"
    assert allowed(objects, "redis", "Ingress") == {
        (clients, "TCP", 6379),
        ("ns:keda/app=keda-operator", "TCP", 6379),
    }


@pytest.mark.parametrize("build", BUILDS)
def test_workers_reach_only_dns_redis_and_object_storage(build: str) -> None:
    objects = build_overlay(build)
    storage = S3 | (DEV_MINIO if build == "dev" else set())
    expected = {
        "enhancer": DNS | REDIS | storage,
        "upsampler": DNS | REDIS | storage,
        "cleanup-worker": DNS | REDIS | storage | WEBHOOKS,
        "beat": DNS | REDIS,
        "api": DNS | REDIS | storage,
        "redis": DNS,
    }
    for component, peers in expected.items():
        assert allowed(objects, component, "Egress") == peers, component


def test_selector_matching() -> None:
    selector = {
        "matchLabels": {"a": "1"},
        "matchExpressions": [
            {"key": "b", "operator": "In", "values": ["x", "y"]},
            {"key": "c", "operator": "DoesNotExist"},
        ],
    }
    assert matches(selector, {"a": "1", "b": "y"})
    assert not matches(selector, {"a": "1", "b": "z"})
    assert not matches(selector, {"a": "1", "b": "x", "c": "0"})
    assert matches({}, {"anything": "goes"})
