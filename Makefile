# The one list of commands that people and CI share. Every target installs what it needs first:
# uv (into .tools/ when it is not on PATH), then the locked environment from uv.lock.
SHELL := /bin/bash
UV_VERSION := 0.13.9
TOOLS := .tools
SYSTEM_UV := $(shell command -v uv 2>/dev/null)
UV := $(if $(SYSTEM_UV),$(SYSTEM_UV),$(TOOLS)/bin/uv)
# Use the machine's Python 3.11; never download an interpreter.
export UV_PYTHON_DOWNLOADS := never
# Debian packages are installed as root, through sudo when not root.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: install install-runtime lint test demo up prometheus spark bench clean

$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Every module is compiled to bytecode here, the project's too: Python reads a .pyc even where
# PYTHONDONTWRITEBYTECODE is set (as on this project's machines), and without one every process
# compiled each module it imported again (`import mlops_assets.definitions`: 2.6 s, not 5-7 s).
# A second install compiles only what changed.
install: $(if $(SYSTEM_UV),,$(TOOLS)/bin/uv)
	$(UV) sync --frozen --compile-bytecode
	$(UV) run --frozen python -m compileall -q -j 0 mlops_assets serving feature_repo tests bench

# The environment without the development tools: what deploy/Dockerfile installs in the image.
install-runtime: $(if $(SYSTEM_UV),,$(TOOLS)/bin/uv)
	$(UV) sync --frozen --no-dev --compile-bytecode

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run dg check defs
	$(UV) run dg list defs > /dev/null

# The production environment's tests start a real PostgreSQL and Redis, the UI tests drive
# headless Chromium, the observability tests run Prometheus: Debian's packages.
# The suite runs on three pytest-xdist workers, a test file (or package) at a time so that its
# fixtures are built once, the longest first, in the order tests/conftest.py gives. Three workers
# keep the two cores busy while some tests wait on servers and sensor ticks; with both cores
# already saturated, more would not help (see docs/development.md).
# The mesh and monitoring manifests' CRD schemas come from the npm registry, pinned in
# tests/deploy/crd's lockfile (installed again when the lockfile is newer than what is installed).
test: lint
	command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
		[ -x /usr/bin/chromium ] && command -v npm >/dev/null || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q postgresql redis-server chromium nodejs npm)
	$(MAKE) --no-print-directory prometheus spark
	[ tests/deploy/crd/node_modules/.package-lock.json -nt tests/deploy/crd/package-lock.json ] || \
		npm ci --prefix tests/deploy/crd --ignore-scripts --no-audit --no-fund --loglevel=error
	@scratch=$$(mktemp -d); \
	if $(UV) run pytest -n 3 --no-loadscope-reorder --basetemp=$$scratch --durations=20; \
	then rm -rf $$scratch; \
	else echo "make test failed; the tests' files are kept in $$scratch"; exit 1; fi

demo: install
	$(UV) run mlops demo

up: install prometheus
	$(UV) run mlops up

# Debian's Prometheus (and promtool), without the node exporter it recommends: `mlops up` starts
# it with deploy/prometheus/rules, and the tests run it and promtool.
prometheus:
	[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends prometheus)

# The Spark engine (MLOPS_ENGINE=spark): Debian's Java 17 when there is no Java, and Spark's S3
# connector. PyPI's pyspark ships no S3A connector and Maven Central is out of reach here, so the
# connector's jars (hadoop-aws 3.3.1 with the AWS SDK 1.11.901 bundle) come from a package on PyPI
# that carries them, checked against its published digest; docs/spark.md says what a cluster
# image uses instead.
SPARK_JARS_SDIST := sagemaker_pyspark-1.4.5.tar.gz
SPARK_JARS_URL := https://files.pythonhosted.org/packages/df/37/88e683fd29270ca890b1b889466325be5461abb93d5ea055bc3a505d40a8/$(SPARK_JARS_SDIST)
SPARK_JARS_SHA256 := 05ca2d5081d7138ce29a8fb0a9cba077f28c825288ed07aed46a82e63c0bf1fb
SPARK_JARS := hadoop-aws-3.3.1.jar aws-java-sdk-bundle-1.11.901.jar

spark: $(addprefix $(TOOLS)/spark-jars/,$(SPARK_JARS))
	command -v java >/dev/null || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends openjdk-17-jre-headless)

$(addprefix $(TOOLS)/spark-jars/,$(SPARK_JARS)) &:
	mkdir -p $(TOOLS)/spark-jars $(TOOLS)/cache
	[ -f $(TOOLS)/cache/$(SPARK_JARS_SDIST) ] || curl -fsSL -o $(TOOLS)/cache/$(SPARK_JARS_SDIST) $(SPARK_JARS_URL)
	echo "$(SPARK_JARS_SHA256)  $(TOOLS)/cache/$(SPARK_JARS_SDIST)" | sha256sum --check --quiet
	tar -xzf $(TOOLS)/cache/$(SPARK_JARS_SDIST) -C $(TOOLS)/spark-jars --strip-components=3 \
		$(addprefix sagemaker_pyspark-1.4.5/deps/jars/,$(SPARK_JARS))
	touch $(TOOLS)/spark-jars/*.jar

bench: install
	command -v wrk >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk)
	$(UV) run python bench/generator.py
	$(UV) run python bench/features.py
	$(UV) run python bench/models.py
	$(UV) run python bench/serving.py
	$(UV) run python bench/serving_swap.py
	$(UV) run python bench/scoring.py
	$(UV) run python bench/portable.py

# Deletes local state (MLOPS_HOME default) and the environment; the repository itself stays.
clean:
	rm -rf .mlops .venv $(TOOLS) tests/deploy/crd/node_modules
