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
.PHONY: help build test deps bench lint dev run clean load soak

help: ## List the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z_-]+:.*?## / {printf "  make %-6s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/ai-proxy-hf (the plugin), bin/kongsim (Kong stand-in), bin/hfsim (fake Hugging Face)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/ai-proxy-hf ./cmd/kongsim ./cmd/hfsim

test: deps ## Run every test (unit, packaging, end-to-end with the npm clients), offline, with -race
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

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

# make load LOAD_FLAGS='-duration 8s -rounds 16' for steadier figures;
# LOAD_FLAGS='-cpuprofile cpu.pprof' first profiles the plugin server.
load: build ## Plugin vs plain Kong route under the same load, c=1 and 16 (under 60 s)
	$(GO) build -o $(BIN)/ ./cmd/loadtest
	$(BIN)/loadtest load -bin $(BIN) $(LOAD_FLAGS)

soak: build ## 100,000 mixed chats through the plugin; fails on RSS growth or a goroutine leak
	$(GO) build -o $(BIN)/ ./cmd/loadtest
	$(BIN)/loadtest soak -bin $(BIN) $(SOAK_FLAGS)

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
