# make run  : venv + install + database + demo data + worker + app on http://127.0.0.1:8501
# make test : venv + install (with test extras) + the whole test suite (SQLite, then the database tests on PostgreSQL)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STUDIO := $(VENV)/bin/studio
# ORT=gpu|cpu: which onnxruntime build to install (default gpu when nvidia-smi is present, else cpu)
ORT    ?= $(if $(shell command -v nvidia-smi 2>/dev/null),gpu,cpu)
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)-$(ORT)
PORT   ?= 8501
# test processes: N = pytest-xdist with N processes, each test file in one, the cores split between
# them for torch (tests/conftest.py); 0 = the whole suite in this process. Default: 2 where there are
# 2+ cores (11.1 + 4.0 min on 2 cores, against 17.7 + 7.9 in one process), else 0
TEST_WORKERS ?= $(shell [ "$$(nproc 2>/dev/null || echo 1)" -ge 2 ] && echo 2 || echo 0)
PYTEST_XDIST := -n $(TEST_WORKERS) --dist loadfile
# the labelling canvas (frontend/canvas, TypeScript): npm ci when the lockfile changes, a
# build into studio_ui/canvas/dist/ when its sources change
CANVAS     := frontend/canvas
CANVAS_OUT := studio_ui/canvas/dist/manifest.json
CANVAS_SRC := $(shell find $(CANVAS)/src -type f 2>/dev/null) $(addprefix $(CANVAS)/,package.json package-lock.json build.mjs tsconfig.json)
NEED_NODE  := command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && node -e 'process.exit(parseInt(process.versions.node, 10) < 18 ? 1 : 0)' \
	|| { echo "make: the labelling canvas ($(CANVAS)) needs Node.js 18+ and npm to build; install them (Debian: apt-get install nodejs npm) and run make again" >&2; exit 1; }

.PHONY: install run test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	# the two onnxruntime builds write one module folder: remove the other build first
	$(PY) -m pip uninstall --quiet --yes $(if $(filter gpu,$(ORT)),onnxruntime,onnxruntime-gpu) 2>/dev/null || true
	$(PY) -m pip install --quiet -e '.[test,$(ORT)]'
	$(PY) -c "from torchvision.ops import nms; import cv2, pycocotools, huey, onnxruntime"  # the stack imports
	rm -f $(VENV)/.installed-*; touch $@

$(CANVAS)/node_modules/.package-lock.json: $(CANVAS)/package-lock.json
	@$(NEED_NODE)
	cd $(CANVAS) && npm ci --no-audit --no-fund
	touch $@

$(CANVAS_OUT): $(CANVAS)/node_modules/.package-lock.json $(CANVAS_SRC)
	@$(NEED_NODE)
	cd $(CANVAS) && npm run build

install: $(STAMP) $(CANVAS_OUT)

run: install
	$(STUDIO) init
	$(STUDIO) demo --if-empty
	$(STUDIO) serve --with-worker --port $(PORT)

test: install
	$(VENV)/bin/ruff check studio backend app_pages studio_ui tests benchmarks app.py server.py
	cd $(CANVAS) && npm test
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)
	# every test that touches a studio database, again on a real PostgreSQL server (tests/postgres.py)
	STUDIO_TEST_DB=postgres $(PY) -m pytest -m "db and not e2e" $(PYTEST_XDIST) $(PYTEST_ARGS)

bench: install  # every figure of README's Figures section (GPU rows when a GPU is present)
	$(PY) benchmarks/import_export.py
	$(PY) benchmarks/evaluation.py
	$(PY) benchmarks/labelling.py
	$(PY) benchmarks/canvas.py
	$(PY) benchmarks/training.py
	$(PY) benchmarks/models.py
	$(PY) benchmarks/live.py

clean-venv:
	rm -rf $(VENV)
