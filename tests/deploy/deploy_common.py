"""What the deploy tests share: paths, the settings view of env keys, task limits, builds."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from shared.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
SERVICES = ("api", "enhancer", "upsampler", "cleanup")
ENV_PREFIX = "SPEAKUP_"


def settings_fields() -> set[str]:
    return set(Settings.model_fields)


def env_key_field(key: str) -> str:
    """`SPEAKUP_S3_BUCKET` → `s3_bucket` (pydantic-settings' mapping with env_prefix)."""
    assert key.startswith(ENV_PREFIX), key
    return key[len(ENV_PREFIX) :].lower()


def unknown_env_keys(keys: set[str]) -> set[str]:
    return {
        k for k in keys if k.startswith(ENV_PREFIX) and env_key_field(k) not in settings_fields()
    }


def settings_from_env(env: dict[str, str]) -> Settings:
    """Settings as a process with exactly these SPEAKUP_* variables would build them."""
    values = {env_key_field(k): v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def longest_task_hard_limit_s(settings: Settings) -> float:
    """Hard time limit of a stage on the longest input the settings accept."""
    return settings.task_time_limits(settings.max_duration_s)[1]


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubectl() -> str | None:
    return shutil.which("kubectl")


@cache
def build_overlay_with_kubectl(name: str) -> tuple[dict[str, Any], ...]:
    directory = K8S / "overlays" / name if name in OVERLAYS else K8S / name
    out = subprocess.run(
        [kubectl() or "kubectl", "kustomize", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


@cache
def build_overlay_in_python(name: str) -> tuple[dict[str, Any], ...]:
    from deploy_kustomize import build

    directory = K8S / "overlays" / name if name in OVERLAYS else K8S / name
    return tuple(build(directory))


def build_overlay(name: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` where installed (it embeds kustomize v5), else the Python subset."""
    return build_overlay_with_kubectl(name) if kubectl() else build_overlay_in_python(name)


def by_kind(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    """`Kind/name` → pod spec, for every workload that makes pods."""
    out = {}
    for obj in objects:
        if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            out[f"{obj['kind']}/{obj['metadata']['name']}"] = obj["spec"]["template"]["spec"]
    return out


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def requirement_closure(requirements: list[str]) -> set[str]:
    """Every distribution these requirements pull in, walked through the installed metadata
    (.venv holds all extras). Distributions not installed here end the walk (e.g. CUDA wheels)."""
    seen: set[str] = set()
    todo = [(Requirement(r), frozenset()) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        if requirement.marker and not any(
            requirement.marker.evaluate({"extra": e}) for e in (extras or {""})
        ):
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend((Requirement(r), frozenset(requirement.extras)) for r in requires)
    return seen


def service_closure(extra: str) -> set[str]:
    project = pyproject()["project"]
    return requirement_closure(project["dependencies"] + project["optional-dependencies"][extra])
