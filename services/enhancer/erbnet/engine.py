"""Enhancer engine "erbnet": the trained ErbNet checkpoint under models/erbnet/.

Available when the checkpoint exists (SPEAKUP_ERBNET_CHECKPOINT overrides the path). Whether
`auto` picks it is decided by the measured scores (models/enhancer_scores.json), not here.
"""

from __future__ import annotations

from services.enhancer.checkpoint_engine import register_checkpoint_engine

register_checkpoint_engine("erbnet", "erbnet/erbnet_small.pt", "erbnet")
