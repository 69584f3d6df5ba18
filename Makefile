# newsbeam - `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE_INPUTS := --input 'data/sample/*.jsonl' --input 'data/sample/*.jsonl.gz' --input 'data/sample/*.txt' \
                 --input 'data/sample/*.html' --input 'data/sample/*.rss' --input 'data/sample/*.atom'
OUTPUT ?= output
PYTEST_ARGS ?=

.PHONY: help install pubsub-emulator run test test-fast mutate bench eval lint clean build-image flex-template deploy-dataflow run-flex-template dataflow-dry-run schedule-flex-template

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel

install: $(PY) ## create .venv and install newsbeam (editable) with the test tools
	$(PY) -m pip install --quiet -e '.[test]'
	@$(MAKE) --no-print-directory pubsub-emulator

SDK_ROOT = $(shell gcloud info --format='value(installation.sdk_root)' 2>/dev/null)
pubsub-emulator: ## the Cloud SDK Pub/Sub emulator + Java for tests/pipeline/test_pubsub.py (apt-get, best effort: else that test is skipped with the reason)
	@if [ -d "$(SDK_ROOT)/platform/pubsub-emulator" ] && command -v java >/dev/null; then echo "Pub/Sub emulator: installed"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q google-cloud-cli google-cloud-cli-pubsub-emulator default-jre-headless \
	  || echo "Pub/Sub emulator: apt-get could not install it (Google's Cloud SDK apt repository configured?); the live Pub/Sub test will be skipped"; \
	else echo "Pub/Sub emulator: not installed and apt-get needs root; the live Pub/Sub test will be skipped"; fi

run: ## run the pipeline on the bundled sample into ./output and print a summary
	$(PY) -m pipeline $(SAMPLE_INPUTS) --output $(OUTPUT) --config configs/local.yaml

test: ## the whole test suite
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-fast: ## the tests without a child process or a Beam pipeline (-m "not e2e and not slow"): under a minute
	$(PY) -m pytest tests -m "not e2e and not slow" $(PYTEST_ARGS)

MODULE ?=
MUTATE_JOBS ?= 1
mutate: ## mutation testing (mutmut) of the core modules, or of MODULE=transforms/io/ssrf.py only; kill rate per module (not in make test)
	$(PY) -m tests.mutation.run $(MODULE) --jobs $(MUTATE_JOBS)

bench: ## benchmarks on generated data (not part of make test); writes bench/results/
	$(PY) -m bench.run

eval: ## quality on labelled data: language, dedup, stories, topics (P/R/F1)
	$(PY) -m eval.run

lint: ## static checks: syntax errors, undefined and unused names (ruff)
	$(VENV)/bin/ruff check pipeline transforms tests eval bench

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
	rm -rf $(OUTPUT) .pytest_cache build *.egg-info
