# ai-proxy-hf: a Kong Gateway external plugin (Go, go-pdk) that puts Hugging
# Face models behind Kong with the configuration of Kong's ai-proxy plugin.
# `make` alone lists the targets.

GO           ?= go
BIN          := bin
CLIENTS      := e2e/clients
# Generous: the end-to-end tests start real processes; -race slows them down.
TEST_TIMEOUT ?= 30m
# node_modules is npm's, not ours: keep it out of gofmt's walk.
GOFILES       = $(shell find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*')

.DEFAULT_GOAL := help
.PHONY: help build test deps bench lint dev run clean e2e-kong e2e-kong-standin e2e-kong-docker

help: ## List the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z0-9_-]+:.*?## / {printf "  make %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/ai-proxy-hf (the plugin), bin/kongsim (Kong stand-in), bin/hfsim (fake Hugging Face)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/ai-proxy-hf ./cmd/kongsim ./cmd/hfsim

test: deps ## Run every test (unit, packaging, end-to-end with the npm clients), offline, with -race; then e2e-kong-standin
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory e2e-kong-standin

# The end-to-end suite against an external Kong: KONG_PROXY_URL,
# KONG_ADMIN_URL, HF_UPSTREAM_URL and KONG_FILE_LOG_DIR (KONG_ERROR_LOG_PATH
# optional) name it, its hfsim and the file-log directory (see e2e/external_test.go).
# E2E_FLAGS adds go test flags (e.g. E2E_FLAGS='-run TestSmoke').
E2E_FLAGS ?=
e2e-kong: deps ## Run the e2e suite (go test -v) against the Kong at KONG_PROXY_URL/KONG_ADMIN_URL
	@[ -n "$$KONG_PROXY_URL" ] && [ -n "$$KONG_ADMIN_URL" ] && [ -n "$$HF_UPSTREAM_URL" ] || { \
		echo "make e2e-kong: set KONG_PROXY_URL, KONG_ADMIN_URL, HF_UPSTREAM_URL and KONG_FILE_LOG_DIR (or run make e2e-kong-docker / e2e-kong-standin)" >&2; exit 1; }
	$(GO) test -v -count=1 -timeout $(TEST_TIMEOUT) ./e2e/ $(E2E_FLAGS)

e2e-kong-standin: build deps ## make e2e-kong against bin/kongsim and bin/hfsim run as processes (part of make test)
	kong/e2e-standin.sh

# KONG_IMAGE: kong:3.9 (the last open-source image) or kong/kong-gateway:3.13.
KONG_IMAGE ?= kong:3.9
e2e-kong-docker: ## make e2e-kong against Kong (KONG_IMAGE, default kong:3.9) and hfsim in Docker (kong/compose.e2e.yml)
	KONG_IMAGE=$(KONG_IMAGE) kong/e2e-docker.sh

# npm ci only when node_modules is missing or older than the manifest/lock.
deps: $(CLIENTS)/node_modules/.deps-installed ## Install the npm clients the end-to-end tests drive (npm ci)

$(CLIENTS)/node_modules/.deps-installed: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		echo "make deps: npm is not installed; the end-to-end tests need Node.js 20+ and npm (Debian: apt-get install nodejs npm)" >&2; \
		exit 1; }
	cd $(CLIENTS) && npm ci --no-audit --no-fund
	@touch $@

bench: ## Run the Go benchmarks (with allocations), no tests
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint: ## Fail on unformatted Go files (gofmt -l), then go vet
	@unformatted="$$(gofmt -l $(GOFILES))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

dev: build ## Run the plugin under kongsim against hfsim on 127.0.0.1 (no Docker); Ctrl-C stops all
	kong/dev.sh

run: ## Run Kong 3.9 with the plugin in Docker (needs HUGGINGFACE_TOKEN)
	docker compose up --build

clean: ## Remove bin/ and the npm clients' node_modules
	rm -rf $(BIN) $(CLIENTS)/node_modules
