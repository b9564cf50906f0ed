"""The evaluation harness: `python -m evaluation` judges every enhancement engine on the same
audio (see evaluation/cli.py); `python -m evaluation.sr` does the same for super-resolution."""
