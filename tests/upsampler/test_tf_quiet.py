"""TensorFlow's import chatter is dropped from stderr; anything else written there stays."""

from __future__ import annotations

import os

import pytest

from services.upsampler.tf_quiet import stderr_without_chatter


def test_info_lines_and_absl_preamble_dropped_errors_kept(capfd: pytest.CaptureFixture[str]):
    with stderr_without_chatter():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n"
                    b"I0000 00:00:1796628181.793520   22693 port.cc:153] oneDNN custom "
                    b"operations are on.\n"
                    b"E0000 00:00:1796628181.9   22693 cuda_dnn.cc:8] Unable to register\n"
                    b"Traceback (most recent call last):\n")
    err = capfd.readouterr().err
    assert "oneDNN" not in err and "InitializeLog" not in err
    assert "Unable to register" in err and "Traceback" in err


def test_an_error_inside_still_raises_and_restores_stderr(capfd: pytest.CaptureFixture[str]):
    with pytest.raises(ImportError), stderr_without_chatter():
        os.write(2, b"W0000 something to warn about\n")
        raise ImportError("no tensorflow")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "W0000 something to warn about\nafter\n"
