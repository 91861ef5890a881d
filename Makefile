# The whole set-up on a fresh Debian machine is one of these two commands:
#   make demo   - create .venv, install genlab, install Fashion-MNIST (Debian package), run the main job:
#                 the vae-vs-gan comparison study at its quick budget, ending with the path of report.html
#   make test   - the same set-up, then the full test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU torch wheel lies in /opt/wheels on this project's machines; elsewhere pip finds it on PyPI.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check -c constraints.txt $(FIND_LINKS)
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo yes)
TEST_WORKERS ?= 2

.PHONY: demo test setup data browser clean

demo: setup
	$(BIN)/genlab study run vae-vs-gan --budget quick --out demo-study

test: setup browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -q --durations=15

setup: $(VENV)/.installed data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { [ "$(IS_ROOT)" = yes ] && apt-get update -q && apt-get install -y -q python3-venv python3-pip && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

# Fashion-MNIST from Debian's dataset-fashion-mnist when apt-get is usable as root; otherwise
# genlab looks in $$GENLAB_DATA / ~/.cache/genlab, downloads it, or says how to get it.
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
	  echo "Fashion-MNIST: /usr/share/datasets/fashion-mnist"; \
	elif [ "$(IS_ROOT)" = yes ]; then \
	  { apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }; } \
	  || echo "Fashion-MNIST: could not install dataset-fashion-mnist; tests skip it and the demo study reports its fashion-mnist runs as failed"; \
	else \
	  echo "Fashion-MNIST: not root, skipping apt-get install dataset-fashion-mnist"; \
	fi

# Debian's chromium for the explorer's browser test (playwright drives it; no browser is downloaded);
# without it that test is skipped.
browser:
	@if [ -x /usr/bin/chromium ]; then \
	  echo "chromium: /usr/bin/chromium"; \
	elif [ "$(IS_ROOT)" = yes ]; then \
	  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } \
	  || echo "chromium: could not install it; the browser test is skipped"; \
	else \
	  echo "chromium: not root, skipping apt-get install chromium; the browser test is skipped"; \
	fi

clean:
	rm -rf $(VENV) demo-runs demo-study .pytest_cache
