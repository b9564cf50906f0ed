"""The U-Net served by LiteRT, TensorFlow Lite's runtime (`ai-edge-litert`).

The network is built, trained and saved with Keras on TensorFlow (`unet.keras`); at export the
same graph is converted to `unet.tflite` beside it (TensorFlow's own converter, float32, no
quantisation) and the card records the digest of the `.keras` file it came from. A process that
only serves then never imports TensorFlow: LiteRT loads in ≈ 40 MiB where TensorFlow takes
≈ 585 MiB and seconds of import, and its XNNPACK kernels run this network faster on CPU
(issue 16; `make bench`). Output equals the Keras model's to float rounding (tests).

`SPEAKUP_UNET_RUNTIME=tensorflow` keeps the Keras model (a GPU worker, where TensorFlow runs it
on the device); a missing, stale or unreadable `.tflite` falls back to it too.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from services.upsampler.tf_quiet import stderr_without_chatter

RUNTIME_ENV = "SPEAKUP_UNET_RUNTIME"
# LiteRT announces its CPU delegate on stderr from native code when an interpreter is made.
_DELEGATE_NOTE = re.compile(rb"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.")


def lite_path(keras_path: Path) -> Path:
    return keras_path.with_suffix(".tflite")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_lite(model, destination: Path) -> dict[str, object]:
    """Convert a Keras U-Net to a `.tflite` file (atomic write); returns its card entry."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="speakup-unet-export-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        blob = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
    partial = destination.with_name(destination.name + ".partial")
    partial.write_bytes(blob)
    os.replace(partial, destination)
    return {"file": destination.name, "sha256": hashlib.sha256(blob).hexdigest(),
            "size_bytes": len(blob)}


def wanted() -> bool:
    """LiteRT unless the environment asks for TensorFlow, and only where it is installed."""
    if os.environ.get(RUNTIME_ENV, "litert").strip().lower() == "tensorflow":
        return False
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def matches(card: dict, keras_path: Path, keras_digest: str) -> bool:
    """The `.tflite` beside `keras_path` exists and was converted from exactly this `.keras`."""
    entry = card.get("lite") or {}
    path = keras_path.with_name(str(entry.get("file", ""))) if entry.get("file") else None
    return (path is not None and path.is_file() and entry.get("source_sha256") == keras_digest
            and file_digest(path) == entry.get("sha256"))


class LiteUNet:
    """Called like the Keras model for inference — `net(audio)` or `net([audio, cutoff])` with
    audio [B, T, 1] and cutoff [B, 1] float32 → [B, T, 1] — on LiteRT. Not thread-safe (the
    engine holds a lock); re-plans its tensors only when T changes."""

    def __init__(self, path: Path, length_multiple: int, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        threads = threads or max(1, min(len(os.sched_getaffinity(0)), 4))
        with stderr_without_chatter(_DELEGATE_NOTE):
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        inputs = self._interpreter.get_input_details()
        self._audio = next(d for d in inputs if len(d["shape_signature"]) == 3)
        self._cutoff = next((d for d in inputs if len(d["shape_signature"]) == 2), None)
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._length: int | None = None
        self.conditioned = self._cutoff is not None
        self.length_multiple = length_multiple
        self.threads = threads

    def __call__(self, inputs) -> np.ndarray:
        if self.conditioned:
            audio, cutoff = (np.asarray(v, dtype=np.float32) for v in inputs)
        else:
            audio, cutoff = np.asarray(inputs, dtype=np.float32), None
        out = np.empty_like(audio)
        for i in range(len(audio)):  # the converted graph takes one example at a time
            out[i] = self._one(audio[i : i + 1], None if cutoff is None else cutoff[i : i + 1])
        return out

    def _one(self, audio: np.ndarray, cutoff: np.ndarray | None) -> np.ndarray:
        interpreter = self._interpreter
        if audio.shape[1] != self._length:
            with stderr_without_chatter(_DELEGATE_NOTE):  # the delegate is applied here
                interpreter.resize_tensor_input(self._audio["index"], list(audio.shape))
                interpreter.allocate_tensors()
            self._length = audio.shape[1]
        interpreter.set_tensor(self._audio["index"], np.ascontiguousarray(audio))
        if self._cutoff is not None and cutoff is not None:
            interpreter.set_tensor(self._cutoff["index"], np.ascontiguousarray(cutoff))
        interpreter.invoke()
        return interpreter.get_tensor(self._output)[0]


def attach_lite(keras_path: Path, card: dict) -> dict:
    """Convert the model at `keras_path` to `.tflite` beside it; returns the card with its
    `lite` entry (file, digest, size, and the digest of the `.keras` it came from)."""
    from services.upsampler.unet_engine import load_model

    entry = export_lite(load_model(keras_path), lite_path(keras_path))
    return {**card, "lite": {**entry, "source_sha256": file_digest(keras_path)}}


def main(argv: list[str] | None = None) -> None:
    """python -m services.upsampler.lite [models/unet/unet.keras]: (re)make its `.tflite`."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("checkpoint", nargs="?", type=Path,
                        default=Path(__file__).resolve().parents[2] / "models/unet/unet.keras")
    args = parser.parse_args(argv)
    card_path = args.checkpoint.with_name("card.json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card = attach_lite(args.checkpoint, card)
    card_path.write_text(json.dumps(card, indent=1))
    print(json.dumps(card["lite"]))


if __name__ == "__main__":
    main()
