"""Compose files as `docker compose config` would see them, without Docker: YAML (with `<<`
merges and the `!reset` / `!override` tags), variable interpolation, and override-file merging.
Then tests/deploy validates the result against the Compose Specification's JSON schema."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).with_name("compose-spec.json")
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_]\w*))"
)
_REPLACED_LISTS = {"command", "entrypoint", "test"}


class Reset:
    """`!reset`: drop the attribute inherited from earlier files."""


class Override:
    def __init__(self, value: Any) -> None:
        self.value = value


class InterpolationError(KeyError):
    pass


class _Loader(yaml.SafeLoader):
    pass


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("!reset", _reset)
_Loader.add_constructor("!override", _override)


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def referenced_variables(text: str) -> set[str]:
    return {
        m.group("braced") or m.group("named")
        for m in _INTERPOLATION.finditer(text)
        if not m.group("escaped")
    }


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, Override):
        return Override(interpolate(value.value, env))
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in env
        non_empty = bool(env.get(name))
        ok = non_empty if (op or "").startswith(":") else present
        if op in (":-", "-"):
            return env[name] if ok else arg
        if op in (":?", "?"):
            if not ok:
                raise InterpolationError(f"required variable {name} is missing a value: {arg}")
            return env[name]
        if op in (":+", "+"):
            return arg if ok else ""
        return env.get(name, "")

    return _INTERPOLATION.sub(replace, value)


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's override-file rules for what deploy/ uses: maps merge, `!reset` removes,
    `!override` replaces, command/entrypoint/healthcheck.test replace, other lists append."""
    if isinstance(override, Override):
        return copy.deepcopy(override.value)
    if isinstance(base, dict) and isinstance(override, dict):
        result = copy.deepcopy(base)
        for k, v in override.items():
            if isinstance(v, Reset):
                result.pop(k, None)
            else:
                result[k] = merge(result.get(k), v, k)
        return result
    if isinstance(base, list) and isinstance(override, list) and key not in _REPLACED_LISTS:
        return base + [item for item in override if item not in base]
    if isinstance(override, dict):
        return {k: merge(None, v, k) for k, v in override.items() if not isinstance(v, Reset)}
    return copy.deepcopy(override)


def load(paths: list[Path], env: dict[str, str]) -> dict[str, Any]:
    """The resolved model of these compose files, interpolated with `env`."""
    model: dict[str, Any] = {}
    for path in paths:
        raw = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 (SafeLoader subclass)
        model = merge(model, interpolate(raw, env))
    return model


def schema_errors(model: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_PATH.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(model)
    ]


def duration_s(text: str) -> float:
    """Compose durations: `1h30m`, `80m`, `10s`, `500ms`."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a compose duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)
