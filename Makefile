# Passerelle — the two newcomer commands are `make demo` and `make test`; both bootstrap .venv.
# Every install comes from requirements.lock (hashes checked), installed by uv; `make lock` refreshes it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock
# The stack's ports: `make up PREFECT_PORT=4300 SANDBOX_PORT=8766 GATEWAY_PORT=8001`.
PREFECT_PORT ?= 4200
SANDBOX_PORT ?= 8765
GATEWAY_PORT ?= 8000

.PHONY: demo test lint bench wrk clean lock up down prefect up-pg haproxy

# uv itself, pinned, from the package index into ./.tools (nothing installed outside the project).
$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(TOOLS)/uv uv==$(UV_VERSION) 2>&1 \
	  | grep -v "is neither a file nor a directory" || true
	@test -x $(UV) || { echo "could not install uv $(UV_VERSION) into $(TOOLS)/uv"; exit 1; }

# The virtualenv holds exactly the lock (uv pip sync removes anything else), then the project, editable.
$(STAMP): $(LOCK) pyproject.toml | $(UV)
	@test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation --editable .
	@touch $(STAMP)

# Re-resolve pyproject.toml's ranges to the newest versions the package index has (docs/dependencies.md).
lock: | $(UV)
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
	  --no-header --quiet $(LOCK_ARGS) -o $(LOCK)

demo: $(STAMP)
	$(BIN)/passerelle demo

# Everything outside tests/stack on $(TEST_WORKERS) pytest-xdist workers (a file's tests stay on one worker, each
# worker has its own Prefect test server and PostgreSQL database), then the stacks one at a time: each runs a
# Prefect server on SQLite that must not share the cores with another.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --ignore=tests/stack
	$(BIN)/pytest -q tests/stack

lint: $(STAMP)
	$(BIN)/ruff check .

# The ingest bench's load generator: wrk, from the system's packages when it is missing and this user can
# install them (else bench/webhook_ingest.py falls back to its Python client and says so).
wrk:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && \
	   apt-get install -y -qq wrk >/dev/null 2>&1; }) ; } || echo "wrk is not installed: apt-get install wrk"

bench: $(STAMP) wrk
	$(BIN)/python bench/initial_sync.py --persons 20000
	$(BIN)/python bench/webhook_ingest.py
	$(BIN)/python bench/amilia_events.py
	$(BIN)/python bench/archive.py

clean:
	rm -rf .passerelle .pytest_cache .ruff_cache

# `make up AUTH=1`: the Prefect server requires basic auth; `make up EXPOSE=1`: it listens on 0.0.0.0 (with
# auth, behind a TLS proxy; docs/deployment.md "The Prefect server's door: authentication").
up: $(STAMP)
	$(BIN)/passerelle up --prefect-port $(PREFECT_PORT) --sandbox-port $(SANDBOX_PORT) --gateway-port $(GATEWAY_PORT) \
	  $(if $(filter 1 yes true,$(AUTH)),--auth) $(if $(filter 1 yes true,$(EXPOSE)),--expose)

down:
	@test -x $(BIN)/passerelle && $(BIN)/passerelle down || true

# The load balancer of `make up-pg`: HAProxy, from the system's packages when it is missing and this user can
# install them (as `make wrk` does).
haproxy:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { [ "$$(id -u)" = 0 ] && \
	  command -v apt-get >/dev/null 2>&1 && (apt-get install -y -qq haproxy >/dev/null 2>&1 || { \
	  apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq haproxy >/dev/null 2>&1; }) ; } || \
	  echo "HAProxy is not installed: apt-get install haproxy"

# The production-like stack (docs/deployment.md): Prefect and the store on the machine's PostgreSQL, two workers,
# two gateway replicas (REPLICA_PORTS, default the two ports after GATEWAY_PORT) behind HAProxy on GATEWAY_PORT,
# basic auth. `make up-pg PREFECT_DATABASE_URL=postgresql://… STORE_DATABASE_URL=postgresql://…` picks the databases;
# `make down` stops it, `.venv/bin/passerelle down --drop` also drops the databases `up` created.
up-pg: $(STAMP) haproxy
	$(BIN)/passerelle up --production-like --prefect-port $(PREFECT_PORT) --sandbox-port $(SANDBOX_PORT) \
	  --gateway-port $(GATEWAY_PORT) $(if $(REPLICA_PORTS),--replica-ports $(REPLICA_PORTS)) \
	  $(if $(PREFECT_DATABASE_URL),--prefect-database-url $(PREFECT_DATABASE_URL)) \
	  $(if $(STORE_DATABASE_URL),--store-database-url $(STORE_DATABASE_URL))

# The prefect CLI against the running stack (its settings file), e.g. `make prefect ARGS="deployment ls"`.
STACK_ENV := $(or $(PASSERELLE_HOME),.passerelle)/stack/stack.env
prefect: $(STAMP)
	@set -a; if [ -f "$(STACK_ENV)" ]; then . "$(STACK_ENV)"; fi; set +a; \
	  export PREFECT_HOME="$${PREFECT_HOME:-$(CURDIR)/.passerelle/prefect}"; $(BIN)/prefect $(ARGS)
