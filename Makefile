# newsbeam - `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE_INPUTS := --input 'data/sample/*.jsonl' --input 'data/sample/*.jsonl.gz' --input 'data/sample/*.txt' \
                 --input 'data/sample/*.html' --input 'data/sample/*.rss' --input 'data/sample/*.atom'
OUTPUT ?= output
OUT ?= $(OUTPUT)
INPUT ?=
VERIFY_CONFIG ?=
FEED_ENTRIES ?=
PYTEST_ARGS ?=
# make test: pytest-xdist workers (auto: one per core); each takes whole test files (--dist loadfile), so a
# module's fixtures (a pipeline run several tests read, an emulator) are built once; the costliest files first
# (tests/conftest.py orders them, --no-loadscope-reorder keeps that order). TEST_JOBS=0: one process
TEST_JOBS ?= auto
SOAK_MINUTES ?= 30
# Python's own bytecode cache on, even where the environment turns it off (this machine sets
# PYTHONDONTWRITEBYTECODE): every `python -m pipeline` child and worker process of make test otherwise
# compiles the project's modules again (~0.6 s of CPU each) and each pytest worker re-rewrites the tests
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install chromium pubsub-emulator run verify test test-fast soak mutate bench eval lint wheel smoke-python clean build-image flex-template deploy-dataflow run-flex-template dataflow-dry-run schedule-flex-template

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel

install: $(PY) ## create .venv and install newsbeam (editable) with the test tools (and Debian chromium, as root)
	$(PY) -m pip install --quiet -e '.[test]'
	@$(MAKE) --no-print-directory chromium
	@$(MAKE) --no-print-directory pubsub-emulator

chromium: ## Debian's chromium for the digest page's browser test, when missing (apt-get, as root)
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium (the digest page's browser test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "make install: Debian chromium is missing and cannot be installed here (not root or no apt-get):" \
	    "the digest browser test will skip; install it with: sudo apt-get install chromium"; fi

SDK_ROOT = $(shell gcloud info --format='value(installation.sdk_root)' 2>/dev/null)
pubsub-emulator: ## the Cloud SDK Pub/Sub emulator + Java for tests/pipeline/test_pubsub.py (apt-get, best effort: else that test is skipped with the reason)
	@if [ -d "$(SDK_ROOT)/platform/pubsub-emulator" ] && command -v java >/dev/null; then echo "Pub/Sub emulator: installed"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q google-cloud-cli google-cloud-cli-pubsub-emulator default-jre-headless \
	  || echo "Pub/Sub emulator: apt-get could not install it (Google's Cloud SDK apt repository configured?); the live Pub/Sub test will be skipped"; \
	else echo "Pub/Sub emulator: not installed and apt-get needs root; the live Pub/Sub test will be skipped"; fi

run: ## run the pipeline on the bundled sample into ./output and print a summary
	$(PY) -m pipeline $(SAMPLE_INPUTS) --output $(OUTPUT) --config configs/local.yaml

verify: ## check an output folder against its inputs: make verify OUT=output INPUT='data/in/*.jsonl' [VERIFY_CONFIG=c.yaml FEED_ENTRIES=f.jsonl] (default: make run's)
	$(PY) -m pipeline.verify --output $(OUT) $(if $(strip $(INPUT)),$(foreach i,$(INPUT),--input '$(i)'),$(SAMPLE_INPUTS)) \
	  $(if $(strip $(VERIFY_CONFIG)),--config '$(VERIFY_CONFIG)') $(foreach f,$(FEED_ENTRIES),--feed-entries '$(f)')

test: ## the whole test suite, in TEST_JOBS (auto: one per core) worker processes
	$(PY) -m pytest tests -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

test-fast: ## the tests without a child process or a Beam pipeline (-m "not e2e and not slow"), in TEST_JOBS workers: under a minute
	$(PY) -m pytest tests -m "not e2e and not slow" -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

soak: ## streaming stopped/restarted/forced, batch runs killed, for SOAK_MINUTES (30); checks nothing is lost (not in make test)
	$(PY) -m tests.soak --minutes $(SOAK_MINUTES)

MODULE ?=
MUTATE_JOBS ?= 1
MUTATE_ARGS ?=
mutate: ## mutation testing (mutmut) of the core modules, or of MODULE=transforms/io/ssrf.py only (MUTATE_ARGS=--survivors: the last run's survivors again); kill rate per module (not in make test)
	$(PY) -m tests.mutation.run $(MODULE) --jobs $(MUTATE_JOBS) $(MUTATE_ARGS)

bench: ## benchmarks on generated data (not part of make test); writes bench/results/
	$(PY) -m bench.run

eval: ## quality on labelled data: language, dedup, stories, topics (P/R/F1)
	$(PY) -m eval.run

lint: ## static checks: syntax errors, undefined and unused names (ruff)
	$(VENV)/bin/ruff check pipeline transforms configs tests eval bench tools

wheel: ## build the wheel into dist/ (configs inside: `pip install dist/newsbeam-*.whl` gives a working newsbeam)
	rm -f dist/newsbeam-*.whl
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation -w dist .

# Python for the smoke run: the first python3.13 that runs (on PATH, pyenv's); SMOKE_PYTHON= for another
SMOKE_PYTHON ?= $(shell for p in python3.13 /usr/bin/python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13; do \
                    $$p -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo $$p; break; }; done)
SMOKE_VENV := .venv-smoke

smoke-python: wheel ## CI: the wheel in a fresh Python 3.13 venv (deps from the index) runs the sample from /tmp
	@test -n "$(SMOKE_PYTHON)" || { echo "smoke-python: no python3.13 found; set SMOKE_PYTHON=/path/to/python3.13"; exit 1; }
	rm -rf $(SMOKE_VENV)
	$(SMOKE_PYTHON) -m venv $(SMOKE_VENV)
	$(SMOKE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SMOKE_VENV)/bin/python -m pip install --quiet dist/newsbeam-*.whl
	out=$$(mktemp -d /tmp/newsbeam-smoke.XXXXXX) && cd /tmp && \
	    $(CURDIR)/$(SMOKE_VENV)/bin/newsbeam --version && \
	    $(CURDIR)/$(SMOKE_VENV)/bin/newsbeam $(subst data/sample,$(CURDIR)/data/sample,$(SAMPLE_INPUTS)) --output $$out/out && \
	    $(CURDIR)/$(SMOKE_VENV)/bin/python -c "import json, sys; s = json.load(open('$$out/out/summary.json')); \
	        assert sys.version_info[:2] == (3, 13) and s['articles'] > 0, s; print('smoke-python: ok,', s['articles'], 'articles on Python', sys.version.split()[0])" && \
	    rm -rf $$out

# --- Google Cloud (docs/gcp.md). Set PROJECT, REGION, BUCKET (and SERVICE_ACCOUNT) on the command line.
PROJECT ?= $(shell gcloud config get-value project 2>/dev/null)
REGION ?= europe-west1
BUCKET ?= $(PROJECT)-newsbeam
SERVICE_ACCOUNT ?= newsbeam-runner@$(PROJECT).iam.gserviceaccount.com
REPOSITORY ?= newsbeam
IMAGE ?= $(REGION)-docker.pkg.dev/$(PROJECT)/$(REPOSITORY)/newsbeam:latest
GCS_INPUT ?= gs://$(BUCKET)/incoming/**/*.jsonl
GCS_OUTPUT ?= gs://$(BUCKET)/newsbeam/out
GCS_STATE ?= gs://$(BUCKET)/newsbeam/state
TEMPLATE ?= gs://$(BUCKET)/templates/newsbeam.json
MAX_WORKERS ?= 4
SCHEDULE ?= 7 * * * *
DATAFLOW_FLAGS = --runner DataflowRunner --project $(PROJECT) --region $(REGION) \
                 --temp_location gs://$(BUCKET)/tmp --staging_location gs://$(BUCKET)/staging \
                 --service_account_email $(SERVICE_ACCOUNT) --max_num_workers $(MAX_WORKERS)

deploy-dataflow: ## run the job on Dataflow now (PROJECT REGION BUCKET SERVICE_ACCOUNT; workers install via setup.py)
	$(PY) -m pipeline $(DATAFLOW_FLAGS) --setup_file ./setup.py \
	    --input '$(GCS_INPUT)' --output $(GCS_OUTPUT) --state $(GCS_STATE) $(ARGS)

dataflow-dry-run: ## translate the Dataflow job offline (no credentials, nothing submitted)
	$(PY) -m pipeline $(DATAFLOW_FLAGS) --dry_run=True --setup_file ./setup.py \
	    --input '$(GCS_INPUT)' --output $(GCS_OUTPUT)

build-image: ## build and push the Flex Template / worker image (deploy/Dockerfile) with Cloud Build
	gcloud builds submit --project $(PROJECT) --region $(REGION) \
	    --config deploy/cloudbuild.yaml --substitutions _IMAGE=$(IMAGE) .

flex-template: ## write the Flex Template spec to TEMPLATE (after build-image)
	gcloud dataflow flex-template build $(TEMPLATE) --project $(PROJECT) \
	    --image $(IMAGE) --sdk-language PYTHON --metadata-file deploy/metadata.json

run-flex-template: ## launch the Flex Template once (incremental run over GCS_INPUT)
	gcloud dataflow flex-template run "newsbeam-$$(date -u +%Y%m%d-%H%M%S)" --project $(PROJECT) --region $(REGION) \
	    --template-file-gcs-location $(TEMPLATE) --service-account-email $(SERVICE_ACCOUNT) \
	    --temp-location gs://$(BUCKET)/tmp --max-workers $(MAX_WORKERS) \
	    --additional-experiments use_runner_v2 \
	    --parameters input='$(GCS_INPUT)',output=$(GCS_OUTPUT),state=$(GCS_STATE),incremental=true,sdk_container_image=$(IMAGE)

schedule-flex-template: ## create a Cloud Scheduler job that launches the Flex Template on SCHEDULE (docs/schedule.md)
	gcloud scheduler jobs create http newsbeam-incremental --project $(PROJECT) --location $(REGION) \
	    --schedule '$(SCHEDULE)' --time-zone Etc/UTC --http-method POST \
	    --uri https://dataflow.googleapis.com/v1b3/projects/$(PROJECT)/locations/$(REGION)/flexTemplates:launch \
	    --oauth-service-account-email $(SERVICE_ACCOUNT) \
	    --message-body '{"launchParameter":{"jobName":"newsbeam-scheduled","containerSpecGcsPath":"$(TEMPLATE)","parameters":{"input":"$(GCS_INPUT)","output":"$(GCS_OUTPUT)","state":"$(GCS_STATE)","incremental":"true","sdk_container_image":"$(IMAGE)"},"environment":{"tempLocation":"gs://$(BUCKET)/tmp","serviceAccountEmail":"$(SERVICE_ACCOUNT)","maxWorkers":$(MAX_WORKERS)}}}'

clean: ## remove outputs and caches (keeps .venv)
	rm -rf $(OUTPUT) .pytest_cache build dist *.egg-info $(SMOKE_VENV)
