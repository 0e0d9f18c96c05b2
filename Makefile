# The two commands (see README): `make demo` runs the main job, `make test` runs every check.
# Each sets itself up from a fresh clone; the environment is cached in .venv and uv's cache.

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen --no-sync
export YOLO_OFFLINE := 1
export UV_LINK_MODE := copy

.PHONY: setup test lint format demo serve migrate clean

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet "uv>=0.5"
	# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every
	# process would otherwise compile torch's and ultralytics' sources again on import
	# (12 s of a 21 s model load in the analysis process; every test that starts a process).
	$(UV) sync --frozen --compile-bytecode
	@touch $@

test: setup  ## ruff lint + format check, then the whole pytest suite
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) pytest $(PYTEST_ARGS)

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: setup
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

demo: setup  ## analyse the demo store's photo; writes out/demo/
	$(RUN) shelfscan demo --out out/demo

serve: setup
	$(RUN) shelfscan serve

migrate: setup
	$(RUN) shelfscan db upgrade

clean:
	rm -rf .venv out var .pytest_cache .ruff_cache
