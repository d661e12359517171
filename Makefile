.PHONY: lint format type test bench readme docs

lint:
	ruff check .
	ruff format --check .

type:
	mypy nitrogen_envs --ignore-missing-imports

format:
	ruff format .
	ruff check --fix .

test:
	bash .ci/run

bench:
	python benchmarks/env_overhead.py

docs:
	python scripts/update_docs.py

readme:
	python scripts/update_readme_table.py
