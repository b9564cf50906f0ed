"""A kustomize subset in Python, for machines without `kubectl kustomize` / `kustomize`.

Covers what deploy/k8s uses, and nothing else (anything unknown raises):
`resources` (files and directories), `namespace`, `labels` (metadata only), `images`,
`patches` given by `path` (strategic merge for built-in kinds: maps merge, null deletes, lists of
named items merge by name, other lists are replaced; JSON merge patch (RFC 7386) for custom
resources, whose lists are always replaced — as kustomize does).
tests/deploy/test_deploy_k8s.py checks that this builder and kubectl's kustomize give the same
objects wherever kubectl is installed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN_FIELDS = frozenset(
    {"apiVersion", "kind", "namespace", "labels", "resources", "images", "patches"}
)
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
    }
)
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
    }
)

Key = tuple[str, str]  # (kind, name)


def build(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN_FIELDS
    if unknown:
        raise NotImplementedError(f"{directory}: kustomize fields not supported here: {unknown}")
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects.extend(build(path) if path.is_dir() else _load(path))
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise NotImplementedError(f"{directory}: only `patches: - path:` is supported")
        for doc in _load(directory / patch["path"]):
            _apply_patch(objects, doc)
    for image in kustomization.get("images", []):
        for obj in objects:
            _set_images(obj, image)
    if "labels" in kustomization:
        for group in kustomization["labels"]:
            if group.get("includeSelectors") or group.get("includeTemplates"):
                raise NotImplementedError("labels into selectors/templates")
            for obj in objects:
                obj.setdefault("metadata", {}).setdefault("labels", {}).update(group["pairs"])
    if "namespace" in kustomization:
        for obj in objects:
            _set_namespace(obj, kustomization["namespace"])
    return objects


def _load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _key(obj: dict[str, Any]) -> Key:
    return obj["kind"], obj["metadata"]["name"]


def _apply_patch(objects: list[dict[str, Any]], patch: dict[str, Any]) -> None:
    matches = [obj for obj in objects if _key(obj) == _key(patch)]
    if len(matches) != 1:
        raise ValueError(f"patch {_key(patch)} matches {len(matches)} objects")
    target = matches[0]
    group = target["apiVersion"].rpartition("/")[0]
    merged = (strategic_merge if group in BUILTIN_GROUPS else json_merge)(target, patch)
    target.clear()
    target.update(merged)


def json_merge(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """The strategic-merge subset used here: as json_merge, but lists of named maps merge."""
    if isinstance(patch, list) and isinstance(target, list) and _named(patch) and _named(target):
        result = copy.deepcopy(target)
        for item in patch:
            same = [i for i, old in enumerate(result) if old["name"] == item["name"]]
            if same:
                result[same[0]] = strategic_merge(result[same[0]], item)
            else:
                result.append(copy.deepcopy(item))
        return result
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge(result.get(key), value)
    return result


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _set_images(obj: Any, image: dict[str, str]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "image" and isinstance(value, str) and _image_name(value) == image["name"]:
                obj[key] = (
                    image.get("newName", image["name"])
                    + ":"
                    + image.get("newTag", _image_tag(value) or "latest")
                )
            else:
                _set_images(value, image)
    elif isinstance(obj, list):
        for item in obj:
            _set_images(item, image)


def _image_name(reference: str) -> str:
    last = reference.rsplit("/", 1)[-1]
    return reference[: len(reference) - len(last)] + last.split(":", 1)[0].split("@", 1)[0]


def _image_tag(reference: str) -> str | None:
    last = reference.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _set_namespace(obj: dict[str, Any], namespace: str) -> None:
    if obj["kind"] == "Namespace":
        obj["metadata"]["name"] = namespace
    elif obj["kind"] not in CLUSTER_SCOPED:
        obj["metadata"]["namespace"] = namespace
