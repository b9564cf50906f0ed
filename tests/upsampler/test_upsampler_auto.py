"""`auto` picks the U-Net only where its model card shows it earns it."""

from __future__ import annotations

import json

from services.upsampler.unet_engine import beats_resample


def _card(tmp_path, unet_lsd, unet_snr):
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"evaluation": {"summary": {
        "resample": {"all": {"lsd_db": 8.35, "snr_db": 22.62}},
        "unet": {"all": {"lsd_db": unet_lsd, "snr_db": unet_snr}}}}}))
    return path


def test_better_lsd_without_snr_loss_qualifies(tmp_path):
    assert beats_resample(_card(tmp_path, 8.0, 22.7))


def test_any_snr_loss_or_no_lsd_gain_does_not(tmp_path):
    # the card shipped until 2026-12-04: −0.02 dB SNR
    assert not beats_resample(_card(tmp_path, 8.27, 22.60))
    assert not beats_resample(_card(tmp_path, 8.40, 23.0))


def test_missing_or_broken_card_does_not(tmp_path):
    assert not beats_resample(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    assert not beats_resample(tmp_path / "bad.json")
