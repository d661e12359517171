.PHONY: lint format test bench readme

lint:
	ruff check .
	ruff format --check .

format:
	ruff format .
	ruff check --fix .

test:
	bash .ci/run

bench:
	python benchmarks/env_overhead.py

readme:
	python scripts/update_readme_table.py
