"""One clock for every stage: all stages listed, time added up, an unknown name refused."""

import time

import pytest

from shared.timing import STAGES, StageClock


def test_stages_start_at_zero_and_add_up() -> None:
    clock = StageClock()
    assert tuple(clock.seconds) == STAGES and not any(clock.seconds.values())
    for _ in range(2):
        with clock.stage("master"):
            time.sleep(0.01)
    assert clock.seconds["master"] >= 0.02
    assert clock.rounded("master", "encode") == {"master": round(clock.seconds["master"], 3),
                                                 "encode": 0.0}
    with pytest.raises(KeyError):
        with clock.stage("mastering"):
            pass
