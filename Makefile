# Sightline: two set-up commands, `make demo` and `make test`; each installs
# what it needs. The build cache lives outside the clone so CI and every
# checkout share it; a fresh machine simply builds it once.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sightline-target
# Tests create and drop their own databases on this server; the demo uses
# DATABASE_URL only when you set it, and a private server otherwise.
TEST_DATABASE_URL ?= postgres://postgres:postgres@127.0.0.1:5432/postgres
VENV := .venv
EMULATOR_REQUIREMENTS := tests/emulator/requirements.txt
EMULATOR_STAMP := $(VENV)/.installed-$(shell sha256sum $(EMULATOR_REQUIREMENTS) | cut -c1-12)
# The deployment linters (cfn-lint, checkov, hadolint) and their tests, in a venv of their own.
IAC_VENV := .venv-iac
IAC_REQUIREMENTS := tests/iac/requirements.txt
IAC_STAMP := $(IAC_VENV)/.installed-$(shell sha256sum $(IAC_REQUIREMENTS) | cut -c1-12)
LOAD_VENV := .venv-load
LOAD_REQUIREMENTS := tests/bench/load/requirements.txt
LOAD_STAMP := $(LOAD_VENV)/.installed-$(shell sha256sum $(LOAD_REQUIREMENTS) | cut -c1-12)

.PHONY: demo test bench image lint iac toolchain emulator postgres browser podman

## Start the AWS emulator with a sample estate, scan it into PostgreSQL, print the findings.
demo: toolchain emulator postgres
	cargo build -p sightline
	scripts/demo.sh

## Every test: formatting, lints, unit and end-to-end tests against the emulator,
## the browser tests in headless Chromium (screenshots in target/screenshots/),
## the container image run as the task definitions run it (podman, from the
## debug binary), then schemathesis against the served OpenAPI document.
test: export DATABASE_URL ?= $(TEST_DATABASE_URL)
test: toolchain emulator postgres browser podman lint iac
	cargo test --workspace --no-fail-fast
	$(VENV)/bin/python tests/api/schemathesis_run.py --binary $(CARGO_TARGET_DIR)/debug/sightline \
		--schemathesis $(VENV)/bin/schemathesis --max-examples 20

## Scans of ~1,000 and ~10,000 seeded resources (resources/s, API calls per resource, peak RSS),
## the test estate's scan through the fault proxy at 0%, 10% and 30% throttling, one scheduled
## round over an Organization of 300 accounts at 1, 2 and 4 workers, the job queue's
## claims and completions a second at 16 workers, the release image's size and cold start to /readyz, bulk writes of 10k and 100k synthetic
## resources into PostgreSQL, then the UI's pages (explorer search, findings inbox, overview, scan diff) and their plans
## over 1,000,000 resources and 200,000 findings, and 50 signed-in users loading those pages and the API
## for 60 s through the production rate limits (locust), with one client hammering the API at the end.
bench: export DATABASE_URL ?= $(TEST_DATABASE_URL)
bench: toolchain emulator postgres podman $(LOAD_STAMP)
	cargo build --release --locked -p sightline
	$(VENV)/bin/python tests/bench/bench.py --binary $(CARGO_TARGET_DIR)/release/sightline --sizes 1000,10000
	$(VENV)/bin/python tests/bench/throttle_bench.py --binary $(CARGO_TARGET_DIR)/release/sightline --runs 3
	$(VENV)/bin/python tests/bench/fleet_bench.py --binary $(CARGO_TARGET_DIR)/release/sightline --accounts 300 --workers 1,2,4
	cargo build --profile image --locked -p sightline
	$(VENV)/bin/python tests/bench/image_bench.py --binary $(CARGO_TARGET_DIR)/image/sightline
	cargo run --release -p sightline-store --example bulk_write -- 10000 100000
	cargo run --release -p sightline-store --example queue_bench -- 16 20000
	cargo run --release -p sightline-store --example delete_bench -- 200 2000 300000
	set -o pipefail; out=$$(mktemp); \
	SIGHTLINE_BENCH_KEEP_DB=1 cargo run --release -p sightline-web --example page_bench -- 1000000 200000 | tee $$out \
	&& $(VENV)/bin/python tests/bench/load_bench.py --binary $(CARGO_TARGET_DIR)/release/sightline \
		--locust $(LOAD_VENV)/bin/locust --kept-from $$out --users 50 --seconds 60; \
	rc=$$?; rm -f $$out; exit $$rc

## The release image, FROM scratch, built offline with podman: sightline:latest.
image: toolchain podman
	cargo build --profile image --locked -p sightline
	SIGHTLINE_VERSION=$$(cargo pkgid -p sightline | sed 's/.*[#@]//') \
		docker/build-image.sh $(CARGO_TARGET_DIR)/image/sightline localhost/sightline:latest

lint: toolchain
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

## The deployment files: cfn-lint and checkov on the templates, hadolint on the
## Dockerfile, then the templates' security-property tests (with their mutations).
iac: $(IAC_STAMP) emulator
	$(IAC_VENV)/bin/cfn-lint cloudformation/*.yaml
	$(IAC_VENV)/bin/checkov --framework cloudformation --skip-download --quiet --compact -d cloudformation
	$(IAC_VENV)/bin/hadolint docker/Dockerfile
	$(IAC_VENV)/bin/pytest -q tests/iac

$(LOAD_STAMP): $(LOAD_REQUIREMENTS)
	rm -rf $(LOAD_VENV)
	python3 -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(LOAD_REQUIREMENTS)
	touch $@

$(IAC_STAMP): $(IAC_REQUIREMENTS)
	rm -rf $(IAC_VENV)
	python3 -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(IAC_REQUIREMENTS)
	touch $@

toolchain:
	@scripts/ensure-tools.sh

postgres:
	@scripts/ensure-postgres.sh

browser:
	@scripts/ensure-browser.sh

podman:
	@scripts/ensure-podman.sh

emulator: $(EMULATOR_STAMP)

$(EMULATOR_STAMP): $(EMULATOR_REQUIREMENTS)
	rm -rf $(VENV)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(EMULATOR_REQUIREMENTS)
	touch $@
