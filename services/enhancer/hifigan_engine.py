"""Enhancer engine "hifigan": the trained HiFi-GAN checkpoint under models/hifigan/.

Available when the checkpoint exists (SPEAKUP_HIFIGAN_CHECKPOINT overrides the path). The
registry builds the engine once per process, so the model loads once per worker.
"auto" picks it only where its row in models/enhancer_scores.json clears the bar
(services/enhancer/auto.py).
"""

from __future__ import annotations

from services.enhancer.checkpoint_engine import register_checkpoint_engine

HiFiGANEngine, available = register_checkpoint_engine("hifigan", "hifigan/hifigan_small.pt",
                                                      "hifigan")
