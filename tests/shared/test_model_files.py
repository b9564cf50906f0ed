"""One setting says where the shipped models live; engines and `auto` follow it."""

from __future__ import annotations

import json

import torch

from services.enhancer import engines
from services.enhancer.auto import scores_path
from services.enhancer.checkpoint import save_checkpoint
from services.enhancer.erbnet.config import load_config
from services.enhancer.erbnet.model import ErbNet
from shared.model_files import REPO_MODELS_DIR, model_file, models_dir


def test_models_dir_defaults_to_the_repository_and_follows_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("SPEAKUP_MODELS_DIR", raising=False)
    assert models_dir() == REPO_MODELS_DIR and (REPO_MODELS_DIR / "hifigan").is_dir()
    monkeypatch.setenv("SPEAKUP_MODELS_DIR", str(tmp_path))
    assert model_file("erbnet/erbnet_small.pt") == tmp_path / "erbnet" / "erbnet_small.pt"
    monkeypatch.setenv("SPEAKUP_X", str(tmp_path / "elsewhere.pt"))
    assert model_file("erbnet/erbnet_small.pt", "SPEAKUP_X") == tmp_path / "elsewhere.pt"


def test_an_installed_image_finds_its_checkpoint_and_scores_through_the_setting(tmp_path,
                                                                               monkeypatch):
    """As in the images: code in site-packages, models under SPEAKUP_MODELS_DIR."""
    monkeypatch.setenv("SPEAKUP_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv("SPEAKUP_ERBNET_CHECKPOINT", raising=False)
    assert "erbnet" not in engines.names()
    tiny = load_config("tiny")
    save_checkpoint(tmp_path / "erbnet" / "erbnet_small.pt", tiny, ErbNet(tiny).state_dict(), 1)
    (tmp_path / "enhancer_scores.json").write_text(json.dumps({"engines": {}}))
    assert "erbnet" in engines.names()
    assert scores_path() == tmp_path / "enhancer_scores.json"
    engine = engines._factories["erbnet"]()  # a fresh engine, not the process's cached one
    assert engine.version == "tiny-step1"
    assert engine.enhance(torch.zeros(800).numpy(), 16_000).shape == (800,)
