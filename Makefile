# edgetrust — build, run and test. See README.md.
GO        ?= go
BIN       := $(CURDIR)/bin
DATA      := $(CURDIR)/.data
LISTEN    ?= 127.0.0.1:7443
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
CMDS      := ./cmd/edgetrust-broker ./cmd/edgetrust-agent ./cmd/edgetrustctl
FUZZTIME  ?= 30s
BENCHFLAGS ?=

.PHONY: all build run test test-race-bin lint unit integration fuzz bench clean help

all: build

help:
	@echo "make build   build bin/edgetrust-broker, bin/edgetrust-agent, bin/edgetrustctl"
	@echo "make run     start a broker on $(LISTEN) with its data in .data/broker (embedded SQLite)"
	@echo "make test    gofmt + go vet + every test with -race (unit, store conformance, fuzz seeds, end-to-end)"
	@echo "make fuzz    run every fuzz target for FUZZTIME each (default 30s)"
	@echo "make bench   measure a real broker against this machine's limits; table on stdout, bench.json (BENCHFLAGS=--quick: under 2 min)"

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(CMDS)

run: build
	@mkdir -p $(DATA)
	$(BIN)/edgetrust-broker serve --data-dir $(DATA)/broker --listen $(LISTEN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The end-to-end tests run binaries built once here, with the race detector.
test: lint
	@mkdir -p $(BIN)/race
	$(GO) build -race -o $(BIN)/race/ $(CMDS)
	EDGETRUST_BIN_DIR=$(BIN)/race $(GO) test -race -count=1 -timeout 15m ./...

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The benchmark starts the broker built here as its own process; see BENCHMARKS.md.
bench:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/edgetrust-broker ./cmd/edgetrust-bench
	$(BIN)/edgetrust-bench --broker-bin $(BIN)/edgetrust-broker --json $(CURDIR)/bench.json $(BENCHFLAGS)

clean:
	rm -rf $(BIN) dist
