"""`auto` picks the U-Net only where its model card shows it earns it: lower LSD than
`resample`, full band and 8–24 kHz (ssr_eval's definition where the card has it). SNR is
reported, not a condition (issue 15)."""

from __future__ import annotations

import json

from services.upsampler.unet_engine import beats_resample


def _card(tmp_path, resample: dict, unet: dict):
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"evaluation": {"summary": {
        "resample": {"all": resample}, "unet": {"all": unet}}}}))
    return path


BASE = {"lsd": 2.1, "lsd_high": 2.6, "lsd_db": 8.35, "snr_db": 22.62}


def test_lower_lsd_in_both_bands_qualifies_whatever_the_snr(tmp_path):
    assert beats_resample(_card(tmp_path, BASE, {**BASE, "lsd": 1.5, "lsd_high": 1.9}))
    assert beats_resample(_card(tmp_path, BASE, {**BASE, "lsd": 1.5, "lsd_high": 1.9,
                                                 "snr_db": 20.0}))


def test_no_gain_in_either_band_does_not(tmp_path):
    assert not beats_resample(_card(tmp_path, BASE, {**BASE, "lsd": 1.5}))
    assert not beats_resample(_card(tmp_path, BASE, {**BASE, "lsd_high": 1.9}))
    assert not beats_resample(_card(tmp_path, BASE, {**BASE, "lsd": 2.2, "lsd_high": 1.9}))


def test_cards_of_the_older_definition_are_judged_on_it(tmp_path):
    old = {"lsd_db": 8.35, "snr_db": 22.62}
    assert beats_resample(_card(tmp_path, old, {"lsd_db": 7.74, "snr_db": 22.64}))
    assert not beats_resample(_card(tmp_path, old, {"lsd_db": 8.40, "snr_db": 23.0}))


def test_missing_or_broken_card_does_not(tmp_path):
    assert not beats_resample(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    assert not beats_resample(tmp_path / "bad.json")
