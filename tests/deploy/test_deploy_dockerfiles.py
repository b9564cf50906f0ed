"""deploy/Dockerfile.*: parse, multi-stage, non-root, health command, only their own framework."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from deploy_common import DEPLOY, REPO_ROOT, SERVICES, service_closure  # noqa: E402
from deploy_dockerfile import (  # noqa: E402
    DockerfileError,
    copy_sources,
    healthcheck,
    load,
    parse,
)

from shared.tasks import QUEUE_CLEANUP, QUEUE_ENHANCE, QUEUE_UPSAMPLE  # noqa: E402

QUEUE_OF = {"enhancer": QUEUE_ENHANCE, "upsampler": QUEUE_UPSAMPLE, "cleanup": QUEUE_CLEANUP}
MODELS_OF = {
    "enhancer": {"models/hifigan", "models/erbnet", "models/enhancer_scores.json"},
    "upsampler": {"models/unet"},
}
TORCH = {"torch", "torchvision", "torchaudio", "triton"}
TENSORFLOW = {
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-intel",
    "tf-keras",
    "keras",
    "tensorboard",
    "jax",
    "jaxlib",
}
FORBIDDEN = {
    "api": TORCH | TENSORFLOW,
    "cleanup": TORCH | TENSORFLOW,
    "enhancer": TENSORFLOW,
    "upsampler": TORCH,
}
BUILD_TOOLS = re.compile(
    r"\b(build-essential|gcc|g\+\+|clang|make|cmake|cargo|rustc|"
    r"[\w.+-]+-dev|git)\b"
)


def dockerfile(service: str):
    return load(DEPLOY / f"Dockerfile.{service}")


@pytest.mark.parametrize("service", SERVICES)
def test_parses_into_named_stages_with_a_runtime_from_the_same_base(service: str) -> None:
    parsed = dockerfile(service)
    assert parsed.directives.get("syntax", "").startswith("docker/dockerfile:")
    assert len(parsed.stages) >= 2, "multi-stage: build tools stay out of the final image"
    assert all(stage.name for stage in parsed.stages), "every stage is named (FROM ... AS name)"
    assert parsed.final.base_image == parsed.stages[0].base_image
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", parsed.final.base_image)
    for stage in parsed.stages:
        for instruction in stage.of("COPY"):
            from_stage, _, _ = copy_sources(instruction)
            assert from_stage is None or from_stage in parsed.stage_names()


@pytest.mark.parametrize("service", SERVICES)
def test_last_user_is_numeric_and_not_root(service: str) -> None:
    final = dockerfile(service).final
    users = final.of("USER")
    assert users, "the final stage sets USER"
    user, _, group = users[-1].args.partition(":")
    assert user.isdigit() and int(user) > 0, "numeric uid, so runAsNonRoot can verify it"
    assert group.isdigit() and int(group) > 0
    last_user_line = users[-1].line_no
    assert all(i.line_no < last_user_line for i in final.of("RUN")), "nothing runs as root after"


@pytest.mark.parametrize("service", SERVICES)
def test_health_command_and_exec_form_entrypoint(service: str) -> None:
    final = dockerfile(service).final
    found = healthcheck(final)
    assert found is not None and found[1], "a HEALTHCHECK CMD in the final stage"
    options, command = found
    assert {"interval", "timeout", "retries"} <= set(options)
    if service == "api":
        assert "/healthz" in " ".join(command)
    else:
        joined = " ".join(command)
        assert "stat -c %Y" in joined and "SPEAKUP_WORKER_HEARTBEAT_FILE" in joined
        assert "inspect" not in joined
        env = " ".join(i.args for i in final.of("ENV"))
        assert "SPEAKUP_WORKER_HEARTBEAT_FILE=/tmp/" in env
    # exec form: tini is PID 1 and hands SIGTERM to the server / Celery (warm shutdown)
    entrypoint = final.of("ENTRYPOINT")[-1].exec_args()
    assert entrypoint[0] == "tini"
    assert final.of("CMD")[-1].exec_args()


@pytest.mark.parametrize("service", SERVICES)
def test_final_stage_has_no_build_tools_or_source_tree(service: str) -> None:
    parsed = dockerfile(service)
    for run in parsed.final.of("RUN"):
        installs = re.findall(r"apt-get install[^&;]*", run.args)
        for install in installs:
            packages = [w for w in install.split()[2:] if not w.startswith("-")]
            assert not [p for p in packages if BUILD_TOOLS.fullmatch(p)], packages
        assert "pip install" not in run.args, "the runtime stage only copies the built venv"
    for instruction in parsed.final.of("COPY"):
        from_stage, sources, _ = copy_sources(instruction)
        assert from_stage is not None or all(s.startswith("models/") for s in sources), (
            "the runtime stage takes the venv from the build stage and only models from the repo"
        )
    assert any(BUILD_TOOLS.search(r.args) for r in parsed.stages[0].of("RUN")), (
        "build tools belong in the build stage (else why multi-stage)"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_installs_its_own_extra_pinned_by_the_lock(service: str) -> None:
    build = dockerfile(service).stages[0]
    pips = [r.args for r in build.of("RUN") if "pip install" in r.args]
    assert pips
    extras = {m for p in pips for m in re.findall(r'"\.\[(\w+)\]"', p)}
    assert extras == {service}
    assert "-c requirements/dev.lock" in pips[0], "dependencies are pinned by the lock"
    # every distribution the extra pulls in is pinned in the lock (reproducible images)
    lock = {
        re.split(r"[=<>!~ ]", line, maxsplit=1)[0].lower().replace("_", "-")
        for line in (REPO_ROOT / "requirements/dev.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    # `pip freeze` leaves out pip/setuptools/wheel; the venv's own copies are used for those
    unpinned = service_closure(service) - lock - {"speakup", "pip", "setuptools", "wheel"}
    assert not unpinned, f"not pinned in requirements/dev.lock: {sorted(unpinned)}"


@pytest.mark.parametrize("service", SERVICES)
def test_ml_frameworks_stay_in_their_own_image(service: str) -> None:
    closure = service_closure(service)
    assert not closure & FORBIDDEN[service], sorted(closure & FORBIDDEN[service])
    if service == "enhancer":
        assert "torch" in closure
    if service == "upsampler":
        assert "tensorflow-cpu" in closure
    text = "\n".join(i.args for s in dockerfile(service).stages for i in s.of("RUN")).lower()
    for name in FORBIDDEN[service]:
        assert not re.search(rf"\b{re.escape(name)}\b", text), f"{service} image installs {name}"


@pytest.mark.parametrize("service", SERVICES)
def test_copies_only_its_own_code_and_models(service: str) -> None:
    parsed = dockerfile(service)
    sources = [
        s
        for st in parsed.stages
        for i in st.of("COPY")
        for frm, srcs, _ in [copy_sources(i)]
        if frm is None
        for s in srcs
    ]
    services_copied = {
        s.split("/")[1]
        for s in sources
        if s.startswith("services/") and s.count("/") >= 1 and not s.endswith("__init__.py")
    }
    assert services_copied == {service}, "services never import each other"
    models = {s for s in sources if s.startswith("models/")}
    assert models == MODELS_OF.get(service, set())
    if models:  # installed code cannot find /app/models relative to itself (site-packages)
        env = " ".join(i.args for st in parsed.stages for i in st.of("ENV"))
        assert "SPEAKUP_MODELS_DIR=/app/models" in env
    ignore = (DEPLOY / f"Dockerfile.{service}.dockerignore").read_text().splitlines()
    allowed = [p[1:] for p in ignore if p.startswith("!")]
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY source missing: {source}"
        assert any(
            fnmatch.fnmatch(source, p) or fnmatch.fnmatch(source + "/x", p) for p in allowed
        ), f"{source} is excluded by the .dockerignore"


@pytest.mark.parametrize("service", ["enhancer", "upsampler", "cleanup"])
def test_worker_command_consumes_its_queue_one_at_a_time(service: str) -> None:
    command = dockerfile(service).final.of("CMD")[-1].exec_args()
    assert command[:3] == ["celery", "-A", f"services.{service}.worker:app"]
    assert (REPO_ROOT / f"services/{service}/worker.py").is_file()
    assert command[command.index("-Q") + 1] == QUEUE_OF[service]
    assert command[command.index("--prefetch-multiplier") + 1] == "1"
    if service == "enhancer":
        assert command[command.index("--concurrency") + 1] == "1", "one task per GPU"


def test_api_command_serves_the_app_factory() -> None:
    command = dockerfile("api").final.of("CMD")[-1].exec_args()
    assert command[:3] == ["uvicorn", "services.api.app:create_app", "--factory"]
    assert "EXPOSE" in {i.keyword for i in dockerfile("api").final.instructions}


@pytest.mark.parametrize(
    "text, message",
    [
        ("FROM python:3.11 AS a\nRUNN echo\n", "unknown instruction"),
        ("RUN echo\n", "before the first FROM"),
        ("FROM a AS x\nFROM b AS x\n", "duplicate stage"),
        ('FROM a\nCMD ["x",\n', "continuation"),
        ("FROM ${NOPE}\n", "undefined build argument"),
    ],
)
def test_parser_rejects_broken_dockerfiles(text: str, message: str) -> None:
    text = text.replace('\nCMD ["x",\n', '\nCMD ["x", \\\n')
    with pytest.raises((DockerfileError, ValueError), match=message):
        parse(text)


def test_parser_rejects_malformed_exec_form() -> None:
    with pytest.raises(ValueError):
        parse('FROM a\nCMD ["celery", worker]\n')


_IMPORT_WITHOUT = """
import importlib, importlib.abc, sys
forbidden = set(sys.argv[2].split(","))
class NotInThisImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in forbidden:
            raise ImportError(f"{name} is not installed in this image")
sys.meta_path.insert(0, NotInThisImage())
importlib.import_module(sys.argv[1])
"""
ENTRY_MODULES = {
    "api": "services.api.app",
    "enhancer": "services.enhancer.worker",
    "upsampler": "services.upsampler.worker",
    "cleanup": "services.cleanup.worker",
}


@pytest.mark.parametrize("service", SERVICES)
def test_entry_module_imports_without_the_other_frameworks(service: str) -> None:
    """What the image's command imports first must not need a framework the image lacks
    (imports of those fail here as they would in the image)."""
    forbidden = {name.replace("-", "_") for name in FORBIDDEN[service]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_WITHOUT, ENTRY_MODULES[service], ",".join(forbidden)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
