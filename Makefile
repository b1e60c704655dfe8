# brevosync — run `make` for the list of targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

GO      ?= go
BIN     := bin/brevosync
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Tests use their own database per test, cloned on this server:
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

.PHONY: help build test test/short test/long lint fuzz demo bench tidy clean

help: ## list the targets
	@grep -E '^[a-zA-Z/_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  make %-11s %s\n", $$1, $$2}'

build: ## build bin/brevosync
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/brevosync

test: ## run every test with the race detector against TEST_DATABASE_URL's server
	$(GO) test -race -count=1 -timeout 12m ./...

test/short: ## the tests without the race detector, quicker
	$(GO) test -count=1 -timeout 10m ./...

test/long: ## the long fault tests (soak, many SIGKILL rounds): see README
	BREVOSYNC_LONG=1 $(GO) test -count=1 -timeout 60m -run 'Long|Soak' -v ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fuzz: ## fuzz the webhook parser and the configuration parser, 5 minutes each (FUZZTIME=30s for less)
	$(GO) test -run '^$$' -fuzz FuzzParseEvents -fuzztime $(or $(FUZZTIME),5m) ./webhook/
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(or $(FUZZTIME),5m) ./cmd/brevosync/service/

demo: ## see it work: a simulated Brevo, ~50 contacts, your Postgres or a throwaway one (ARGS="-json -keep -cluster -v")
	$(GO) run ./cmd/brevosync demo $(ARGS)

bench: build ## measure latency, throughput, rate limiting and costs (see README)
	$(BIN) bench

tidy: ## go mod tidy
	$(GO) mod tidy

clean: ## remove build output
	rm -rf bin
