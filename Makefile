# janserver developer commands. `make run` and `make test` are all a new machine needs.
# The first of these that runs and is 3.11+ (pyenv shims can exist without a runnable Python).
PYTHON ?= $(shell for p in python3.12 python3.13 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
PYTEST_BASE = --ds=janserver.settings_test --reuse-db --strict-markers --durations=10 -rs \
	-n $(TEST_WORKERS) --dist worksteal
# Tests compile every module of the project each run when bytecode is not cached.
unexport PYTHONDONTWRITEBYTECODE
# The local model of `make run` (llama.cpp serving SmolLM2 as jan-v1-4b): LOCAL_MODEL=0
# skips it; LOCAL_MODEL_REBUILD=1 makes `make local-model` rebuild llama.cpp.
LOCAL_MODEL ?= 1
LOCAL_MODEL_PORT ?= 8101
LOCAL_MODEL_REBUILD ?= 0

.PHONY: run test test-fast venv local-model lint format migrate bootstrap superuser check-deploy clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo 'janserver needs Python 3.11+ (python3.12 preferred)'; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

# The local settings (DEBUG on, generated secrets, the SQLite path) that settings.py
# reads, so that `manage.py` commands work as typed; written once, never overwritten.
.env: | $(VENV)/.installed
	$(BIN)/python -m janserver.localenv $@

## run: set up, migrate, bootstrap and serve on http://127.0.0.1:8080 (SQLite, DEBUG on),
## with a local model on 127.0.0.1:8101 (installed the first time; never fatal)
run: export DJANGO_DEBUG := $(or $(DJANGO_DEBUG),1)
run: venv .env
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py localmodel serve --host $(HOST) --port $(PORT) \
		--model-port $(LOCAL_MODEL_PORT) $(if $(filter 0,$(LOCAL_MODEL)),--no-model,--install-once)

## local-model: build llama-cpp-python (5 to 10 minutes, once) and install the SmolLM2 model
local-model: export DJANGO_DEBUG := $(or $(DJANGO_DEBUG),1)
local-model: venv .env
	$(BIN)/python manage.py localmodel install $(if $(filter 1,$(LOCAL_MODEL_REBUILD)),--rebuild)

## test: set up and run the whole test suite, in TEST_WORKERS processes (pytest-xdist)
test: venv
	$(BIN)/pytest $(PYTEST_BASE) $(PYTEST_ARGS)

## test-fast: the tests that start no server (no subprocess, no live socket)
test-fast: venv
	$(BIN)/pytest $(PYTEST_BASE) -m "not server" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: export DJANGO_DEBUG := $(or $(DJANGO_DEBUG),1)
migrate: venv .env
	$(BIN)/python manage.py migrate --no-input

superuser: export DJANGO_DEBUG := $(or $(DJANGO_DEBUG),1)
superuser: venv .env
	$(BIN)/python manage.py createsuperuser

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache staticfiles
