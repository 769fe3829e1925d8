# plastix — every target sets up .venv itself on a fresh machine.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test test-rounding bench reproduce docs lint wheel-check clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

## Install, rediscover Oja's rule (configs/oja.toml), print it, write figures.
demo: $(STAMP)
	$(BIN)/plastix run configs/oja.toml --out runs/demo-oja --force

## Install and run the whole test suite (what CI runs). The Ray tests connect to a
## local Ray cluster on loopback, started here and stopped whatever happens. It
## requires a token of its own (Ray's token authentication, set explicitly), so it
## neither depends on nor writes ~/.ray.
RAY_PORT ?= 6391
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports --no-cache
	d=$$(mktemp -d) && trap '$(BIN)/ray stop --force > /dev/null 2>&1; rm -rf "$$d"' EXIT && \
	$(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > "$$d/token" && \
	export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$$d/token" && \
	$(BIN)/ray start --head --node-ip-address 127.0.0.1 --port $(RAY_PORT) --num-cpus 2 \
	  --include-dashboard false --disable-usage-stats > /dev/null && \
	PLASTIX_TEST_RAY_ADDRESS=127.0.0.1:$(RAY_PORT) $(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=25

## Rerun the tests whose outcome rounding could move (marker `rounding`: what an outer loop found,
## asked of most of several seeds; the stored first generation of oja.toml; Vogels' rule's rate in
## a chaotic spiking simulation) with another
## machine's floating-point rounding: XLA's fast-math CPU code (reassociated sums, approximate exp
## and tanh), then float64 throughout (less the stored float32 generation). Either changes every
## seed's trajectory, as another processor does; the tests must pass all the same.
test-rounding: $(STAMP)
	XLA_FLAGS=--xla_cpu_enable_fast_math=true $(BIN)/python -m pytest -m rounding -n 2 -q
	JAX_ENABLE_X64=1 $(BIN)/python -m pytest -m rounding -n 2 -q \
	  --deselect tests/experiment/test_regression.py::test_oja_config_repeats_the_stored_metrics

## Install (with PyTorch, the baseline of bench_feedback.py) and run the benchmarks; results go to
## benchmarks/README.md.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/python benchmarks/run_all.py

## Run the published claims over their seeds (plastix/claims.toml; only the seeds not yet finished,
## in runs/reproduce/) and write docs/reproduction.md. Hours on 2 cores: a killed run continues
## where it stopped; `plastix reproduce NAME --seeds 0-2` runs a piece.
reproduce: $(STAMP)
	$(BIN)/plastix reproduce

## Install the docs extra and build the documentation site into site/ (mkdocs-material; the API
## reference from the docstrings). --strict: any warning, a broken link or a docstring griffe
## cannot read, fails the build.
docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

## Build the sdist and the wheel (the wheel from the sdist, so that the sdist is complete), check
## their metadata and README rendering with twine, install the wheel into a fresh venv outside
## the source tree, and list and check every shipped config from there (configs are package data).
wheel-check: $(STAMP)
	$(BIN)/python -m pip install --quiet "build>=1.2" "twine>=5.1"
	rm -rf dist
	$(BIN)/python -m build --outdir dist . > /dev/null
	$(BIN)/twine check --strict dist/*
	d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	$(PY) -m venv "$$d/venv" && \
	"$$d/venv/bin/python" -m pip install --quiet dist/plastix-*.whl && \
	cd "$$d" && "$$d/venv/bin/plastix" list && \
	for c in $$(cd $(CURDIR)/src/plastix/configs && ls *.toml); do \
	  "$$d/venv/bin/plastix" check "$${c%.toml}" > /dev/null && echo "checked $${c%.toml}" || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs dist build
