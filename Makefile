# make run  : venv + install + database + demo data + worker + app on http://127.0.0.1:8501
# make test : venv + install (with test extras) + the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STUDIO := $(VENV)/bin/studio
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PORT   ?= 8501

.PHONY: install run test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -c "from torchvision.ops import nms; import cv2, pycocotools, huey"  # the stack imports
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

run: install
	$(STUDIO) init
	$(STUDIO) demo --if-empty
	$(STUDIO) serve --with-worker --port $(PORT)

test: install
	$(VENV)/bin/ruff check studio backend app_pages studio_ui tests benchmarks app.py server.py
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install  # every figure of README's Figures section (GPU rows when a GPU is present)
	$(PY) benchmarks/import_export.py
	$(PY) benchmarks/evaluation.py
	$(PY) benchmarks/labelling.py
	$(PY) benchmarks/training.py
	$(PY) benchmarks/models.py
	$(PY) benchmarks/live.py

clean-venv:
	rm -rf $(VENV)
