.PHONY: run test lint bench messages

run:
	python3 dev.py run

test:
	python3 dev.py test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	.venv/bin/python -m bench

# The Portuguese catalogue: new strings of ours into locale/pt_BR (no line numbers: fewer merge
# conflicts), then compiled. Translate what it adds (backoffice/tests/test_i18n.py checks).
messages:
	DEBUG=true .venv/bin/python manage.py makemessages -l pt_BR --no-location --no-obsolete --ignore=test-output --ignore=staticfiles --ignore=var --ignore=bench
	DEBUG=true .venv/bin/python manage.py compilemessages -l pt_BR
