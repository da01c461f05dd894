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
.PHONY: help build test deps bench lint dev run clean load soak load-short fuzz e2e-kong e2e-kong-standin e2e-kong-docker

help: ## List the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z0-9_-]+:.*?## / {printf "  make %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/ai-proxy-hf (the plugin), bin/kongsim (Kong stand-in), bin/hfsim (fake Hugging Face)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/ai-proxy-hf ./cmd/kongsim ./cmd/hfsim

test: deps ## Run every test (unit, packaging, end-to-end with the npm clients), offline, with -race; then e2e-kong-standin, the short load and soak, make fuzz
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory e2e-kong-standin
	$(MAKE) --no-print-directory load-short
	@$(MAKE) --no-print-directory fuzz

# The short load and soak (cmd/loadtest TestLoadShort, TestSoakShort) keep
# both cores busy for about half a minute: run on their own, after the
# suite, so that they do not stretch its time-bounded fault tests.
load-short: ## The short forms of make load and make soak (part of make test)
	AI_PROXY_HF_LOAD_TESTS=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run 'Short$$' -v ./cmd/loadtest

# Every Fuzz* target of every package, one at a time for FUZZTIME each (22
# targets at 4s: about 2.5 minutes with the builds on 2 cores). The seed
# corpus is each package's testdata/fuzz/<Name>/; a crash the fuzzer finds is
# written there too: fix it and commit the file as a regression case. Go
# 1.26's coordinator can fail a run with a bare "context deadline exceeded"
# as -fuzztime ends (golang/go#75804, fixed in 1.27): such a failure that
# wrote no new input is reported and not counted; any other failure is.
FUZZTIME     ?= 4s
FUZZPARALLEL ?= 2
fuzz: ## Run every Fuzz* target for FUZZTIME (default 4s) each
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for dir in $$(grep -rl --include='*_test.go' -e '^func Fuzz' . | grep -v node_modules | xargs -n1 dirname | sort -u); do \
		for name in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //' | sort -u); do \
			echo "== fuzz $$dir $$name ($(FUZZTIME))"; \
			before=$$(ls $$dir/testdata/fuzz/$$name 2>/dev/null | wc -l); \
			if ! $(GO) test $$dir -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) >$$log 2>&1; then \
				after=$$(ls $$dir/testdata/fuzz/$$name 2>/dev/null | wc -l); \
				if [ "$$after" = "$$before" ] && grep -q '^    context deadline exceeded$$' $$log; then \
					grep '^fuzz: elapsed' $$log | tail -n 1; \
					echo "== fuzz $$name: stopped by golang/go#75804 (no failing input written), not a failure"; \
				else cat $$log; echo "== fuzz $$name FAILED: the failing input is in $$dir/testdata/fuzz/$$name/"; exit 1; fi; \
			else tail -n 2 $$log; fi; \
		done; \
	done

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
