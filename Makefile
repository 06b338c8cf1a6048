# Mr Bill: `make dev` starts the whole platform, `make test` runs every test this machine can run.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen

.PHONY: install dev test lint format clean

install:
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv
	@$(MAKE) --no-print-directory -s _sync UV="$$(command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)"

_sync:
	$(UV) sync --frozen --quiet
	@for dir in $$(find api activities realtime -type d -name locale -not -path '*/.venv/*'); do \
		$(UV) run --frozen pybabel compile -d $$dir -D messages 2>&1 | grep -v "^compiling" || true; done

dev: install
	$(RUN) mrbill dev

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

test: lint
	$(RUN) pytest

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
