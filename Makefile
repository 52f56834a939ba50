# The two commands of the README, and a few helpers. Each target installs what it needs.
.PHONY: demo test bootstrap lint es-start es-stop bench

demo: bootstrap
	.venv/bin/finwatch demo

test: bootstrap
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

bootstrap:
	@bash scripts/bootstrap.sh

lint: bootstrap
	.venv/bin/ruff check .

es-start: bootstrap
	.venv/bin/finwatch es start

es-stop:
	.venv/bin/finwatch es stop
