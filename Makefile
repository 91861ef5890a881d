# The whole set-up on a fresh Debian machine is one of these two commands:
#   make demo   - create .venv, install genlab, install Fashion-MNIST (Debian package), run the main job
#   make test   - the same set-up, then the full test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU torch wheel lies in /opt/wheels on this project's machines; elsewhere pip finds it on PyPI.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check -c constraints.txt $(FIND_LINKS)
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo yes)
TEST_WORKERS ?= 2
DEMO_MINUTES ?= 2

.PHONY: demo test setup data clean

demo: setup
	$(BIN)/genlab demo --out demo-runs --minutes $(DEMO_MINUTES)

test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -q

setup: $(VENV)/.installed data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { [ "$(IS_ROOT)" = yes ] && apt-get update -q && apt-get install -y -q python3-venv python3-pip && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

# Fashion-MNIST from Debian's dataset-fashion-mnist when apt-get is usable as root; otherwise
# genlab looks in $$GENLAB_DATA / ~/.cache/genlab, downloads it, or the demo uses mnist-5k.
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
	  echo "Fashion-MNIST: /usr/share/datasets/fashion-mnist"; \
	elif [ "$(IS_ROOT)" = yes ]; then \
	  { apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }; } \
	  || echo "Fashion-MNIST: could not install dataset-fashion-mnist; tests skip it and the demo uses mnist-5k"; \
	else \
	  echo "Fashion-MNIST: not root, skipping apt-get install dataset-fashion-mnist"; \
	fi

clean:
	rm -rf $(VENV) demo-runs .pytest_cache
