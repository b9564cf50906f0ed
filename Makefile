# SpeakUp — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
S3_VENV := .venv-s3
SPEAKUP_CORPUS_DIR ?= var/corpus
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.lock pyproject.toml | sha1sum | cut -c1-12)
APT_STAMP := /var/tmp/speakup-apt-ok
DEBS := redis-server chromium fonts-dejavu-core
export PYTHONUNBUFFERED := 1

.PHONY: run test test-fast lint bench eval eval-sr train-hifigan train-erbnet train-unet data deps system-deps clean

## make run — the whole product on this machine: api, three workers and beat, embedded Redis,
## local-disk storage. Prints the URL; Ctrl-C stops everything.
run: deps
	$(PY) -m speakup serve

## make test — lint, types, and the whole test suite (unit, integration, e2e, browser).
test: deps
	$(VENV)/bin/ruff check shared services evaluation speakup tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -p no:cacheprovider -ra --durations=25 $(PYTEST_ARGS)

test-fast: deps
	$(VENV)/bin/pytest -m "not slow and not e2e" -q $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check shared services evaluation speakup tests benchmarks
	$(VENV)/bin/mypy

## make eval — every enhancement engine on the generated paired set and the real recordings.
eval: deps
	$(PY) -m evaluation $(EVAL_ARGS)

## make eval-sr — the super-resolution engines against resampling on held-out full-band speech.
eval-sr: deps
	$(PY) -m evaluation.sr $(EVAL_ARGS)

## make bench — speed and memory of each stage and the whole chain; results in benchmarks/results/.
bench: deps
	$(PY) -m benchmarks.run $(BENCH_ARGS)

train-hifigan: deps
	$(PY) -m services.enhancer.train --config small --run-dir runs/hifigan_small $(TRAIN_ARGS)

## make train-erbnet — ErbNet, background-friendly: nice, resumes runs/erbnet_small/last.pt; needs
## `make data` first. One thread by default: two oversubscribe a busy 2-core machine (measured 4x slower).
TRAIN_THREADS ?= 1
train-erbnet: deps
	nice -n 15 $(PY) -m services.enhancer.train --family erbnet --config small \
		--run-dir runs/erbnet_small --data-dir $${SPEAKUP_DATA_DIR:-../shared/data} \
		--data-dir $${SPEAKUP_CORPUS_DIR:-var/corpus} --threads $(TRAIN_THREADS) \
		--validate-every 500 $(TRAIN_ARGS)

train-unet: deps
	$(PY) -m services.upsampler.train --config small --run-dir runs/unet_small $(TRAIN_ARGS)

## make data — more training audio (Czech dialogue, real noise, music beds) from Debian packages
## into $(SPEAKUP_CORPUS_DIR) (default var/corpus, git-ignored); a second run does nothing.
## Train on it beside the recordings: TRAIN_ARGS="--data-dir ../shared/data --data-dir var/corpus"
data: deps
	nice $(PY) -m services.enhancer.data.corpus build --out $(SPEAKUP_CORPUS_DIR)

deps: system-deps $(STAMP) $(S3_VENV)/.installed

system-deps:
	@if [ -f $(APT_STAMP) ] && command -v redis-server >/dev/null && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBS) >/dev/null && touch $(APT_STAMP); \
	else \
		echo "Install the Debian packages: sudo apt-get install -y $(DEBS)"; \
		command -v redis-server >/dev/null || exit 1; \
	fi

$(STAMP): requirements/dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.lock
	$(PY) -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# The S3-compatible test server lives in its own virtualenv: it pins its own botocore.
$(S3_VENV)/.installed: requirements/s3-server.txt
	test -x $(S3_VENV)/bin/python || $(PYTHON) -m venv $(S3_VENV)
	$(S3_VENV)/bin/python -m pip install -q -r requirements/s3-server.txt
	touch $@

clean:
	rm -rf $(VENV) $(S3_VENV) var runs .pytest_cache
