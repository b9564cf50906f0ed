"""A small Dockerfile parser for the offline deploy tests (no Docker engine on these machines).

It understands what deploy/Dockerfile.* use and rejects what it does not know: parser directives,
comments, line continuations, ARG defaults in FROM, multi-stage `FROM image AS name`, exec-form
(JSON) arguments, `COPY --from=stage`, and HEALTHCHECK options. Heredocs are not supported (and
not used).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
_DIRECTIVE = re.compile(r"^#\s*(syntax|escape|check)\s*=\s*(\S+)\s*$", re.IGNORECASE)
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


class DockerfileError(ValueError):
    pass


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line_no: int

    @property
    def is_exec_form(self) -> bool:
        return self.args.lstrip().startswith("[")

    def exec_args(self) -> list[str]:
        """The JSON array of an exec-form instruction (raises on malformed JSON)."""
        value = json.loads(self.args)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DockerfileError(f"line {self.line_no}: exec form must be a JSON string array")
        return value


@dataclass
class Stage:
    base_image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [ins for ins in self.instructions if ins.keyword == keyword]


@dataclass
class Dockerfile:
    directives: dict[str, str]
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages if s.name]


def logical_lines(text: str) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Parser directives, then (first line number, joined line) for every instruction."""
    directives: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines) and (match := _DIRECTIVE.match(lines[index])):
        directives[match.group(1).lower()] = match.group(2)
        index += 1
    out: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(lines[index:], start=index + 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue  # comments may sit inside continued instructions too
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].rstrip())
            continue
        buffer.append(stripped)
        out.append((start, " ".join(part for part in buffer if part)))
        buffer = []
    if buffer:
        raise DockerfileError(f"line {start}: continuation runs past the end of the file")
    return directives, out


def expand(value: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in variables:
            return variables[name]
        if match.group(2) is not None:
            return match.group(2)
        raise DockerfileError(f"undefined build argument ${name}")

    return _VAR.sub(replace, value)


def parse(text: str) -> Dockerfile:
    directives, lines = logical_lines(text)
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line_no, line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword not in INSTRUCTIONS:
            raise DockerfileError(f"line {line_no}: unknown instruction {keyword!r}")
        if not args.strip():
            raise DockerfileError(f"line {line_no}: {keyword} needs arguments")
        if keyword == "FROM":
            stages.append(_parse_from(args, global_args, stages, line_no))
            continue
        if not stages:
            if keyword != "ARG":
                raise DockerfileError(f"line {line_no}: only ARG may come before the first FROM")
            name, _, default = args.strip().partition("=")
            global_args[name] = default
            continue
        instruction = Instruction(keyword, args.strip(), line_no)
        if instruction.is_exec_form and keyword in {"CMD", "ENTRYPOINT", "RUN", "SHELL"}:
            instruction.exec_args()  # validates the JSON
        stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError("no FROM")
    return Dockerfile(directives, global_args, stages)


def _parse_from(args: str, global_args: dict[str, str], stages: list[Stage], line_no: int) -> Stage:
    words = [w for w in shlex.split(args) if not w.startswith("--platform")]
    if len(words) == 3 and words[1].upper() == "AS":
        image, name = words[0], words[2]
    elif len(words) == 1:
        image, name = words[0], None
    else:
        raise DockerfileError(f"line {line_no}: FROM takes `image [AS name]`, got {args!r}")
    image = expand(image, global_args)
    if name is not None and not re.fullmatch(r"[a-z][a-z0-9_.-]*", name):
        raise DockerfileError(f"line {line_no}: bad stage name {name!r}")
    if name in {s.name for s in stages}:
        raise DockerfileError(f"line {line_no}: duplicate stage name {name!r}")
    return Stage(base_image=image, name=name)


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]] | None:
    """(options, exec-form command) of the stage's HEALTHCHECK, None where there is none."""
    found = stage.of("HEALTHCHECK")
    if not found:
        return None
    args = found[-1].args
    options: dict[str, str] = {}
    while args.startswith("--"):
        option, _, args = args.partition(" ")
        key, _, value = option[2:].partition("=")
        options[key] = value
        args = args.lstrip()
    keyword, _, command = args.partition(" ")
    if keyword.upper() == "NONE":
        return options, []
    if keyword.upper() != "CMD":
        raise DockerfileError(f"HEALTHCHECK must be CMD or NONE, got {keyword!r}")
    command = command.strip()
    return options, (json.loads(command) if command.startswith("[") else ["sh", "-c", command])


def copy_sources(instruction: Instruction) -> tuple[str | None, list[str], str]:
    """(--from stage or None, sources, destination) of a COPY/ADD."""
    words = instruction.exec_args() if instruction.is_exec_form else shlex.split(instruction.args)
    from_stage = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if flag.startswith("--from="):
            from_stage = flag.split("=", 1)[1]
    if len(words) < 2:
        raise DockerfileError(f"line {instruction.line_no}: COPY needs a source and a destination")
    return from_stage, words[:-1], words[-1]


def load(path: Path) -> Dockerfile:
    return parse(path.read_text())
