.PHONY: lint format type test test-fast bench readme docs

lint:
	ruff check .
	ruff format --check .

type:
	mypy

format:
	ruff format .
	ruff check --fix .

test:
	bash .ci/run

test-fast:
	python -m pytest -q -m "not slow"

bench:
	python benchmarks/env_overhead.py

docs:
	python scripts/update_docs.py

readme:
	python scripts/update_readme_table.py
