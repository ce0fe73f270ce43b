# bookkeeper-jobs: `make run` starts the product, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: help install dashboard run test test-fast lint format bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# The editable install puts src/ on sys.path (a .pth file): new modules need no reinstall.
install: $(STAMP) ## create .venv and install the project with its dev tools

# The committed build (src/bookkeeper_jobs/api/dashboard_dist/) is served as it is without Node;
# with npm and web/node_modules (`cd web && npm ci`) it is rebuilt from web/dashboard first.
dashboard: ## rebuild the dashboard into the Python package (when npm and web/node_modules exist)
	@if command -v npm >/dev/null 2>&1 && [ -d web/node_modules ]; then \
		echo "dashboard: building web/dashboard into src/bookkeeper_jobs/api/dashboard_dist/"; \
		cd web && npm run --silent build:dashboard -- --logLevel warn; \
	else \
		echo "dashboard: no npm or web/node_modules: serving the committed build"; \
	fi

run: install dashboard ## start the API and workers on 127.0.0.1:8000 (data under ./var)
	$(VENV)/bin/bkjobs serve --host 127.0.0.1 --port 8000 --data-dir var --demo

test: install ## run the whole test suite with coverage
	$(VENV)/bin/pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

test-fast: install ## the tests without the slow ones
	$(VENV)/bin/pytest -m "not slow" $(PYTEST_ARGS)

lint: install ## ruff format --check, ruff check, mypy (strict)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy -p bookkeeper_jobs

format: install ## rewrite files with ruff format and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install ## run the benchmarks (they print figures; never part of make test)
	$(PY) bench/categorization_accuracy.py
	$(PY) bench/import_statement.py --rows 1000000

# Cluster mode: the generated CRD, the project's own helm and kubectl, the chart checks.
.PHONY: crds tools chart-check e2e-kind

crds: install ## regenerate crds/bookkeepingjobs.yaml from the models in src/bookkeeper_jobs/resource.py
	$(PY) -m bookkeeper_jobs.crd > crds/bookkeepingjobs.yaml.tmp
	mv crds/bookkeepingjobs.yaml.tmp crds/bookkeepingjobs.yaml

tools: ## download the project's own helm and kubectl into .tools/ (git-ignored)
	PYTHON=$(PYTHON) scripts/install-tools.sh

chart-check: install tools ## helm lint, render and validate the chart for every values file
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/check-chart.sh

e2e-kind: install tools ## the end-to-end scenario on a kind cluster (needs Docker and kind; not on CI)
	scripts/e2e-kind.sh

# tests/cluster/control_plane.py: scripts/build-control-plane.sh (a no-op once built; a cold
# build takes about 6 minutes and needs Go), then etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler on 127.0.0.1 until Ctrl-C. test-cluster adds the
# node agent and a helm release of the chart (tests/cluster/README.md).
.PHONY: cluster-up test-cluster
test-cluster: install tools ## only the real-control-plane tests (node agent, helm install/upgrade/uninstall)
	$(VENV)/bin/pytest -p no:cacheprovider tests/cluster $(PYTEST_ARGS)

cluster-up: install ## a real Kubernetes control plane (RBAC, CEL, Job controller) on 127.0.0.1 until Ctrl-C
	$(PY) -m tests.cluster.control_plane

clean: ## remove the virtualenv, caches and local data
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .coverage var
