# edgetrust — build, run and test. See README.md.
GO        ?= go
BIN       := $(CURDIR)/bin
DATA      := $(CURDIR)/.data
LISTEN    ?= 127.0.0.1:7443
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
CMDS      := ./cmd/edgetrust-broker ./cmd/edgetrust-agent ./cmd/edgetrustctl
FUZZTIME  ?= 30s
# Other systems the binaries are cross-built for (docs/platforms.md).
CROSS     ?= windows/amd64 darwin/arm64 linux/arm64

.PHONY: all build run test test-race-bin lint unit integration fuzz cross clean help

all: build

help:
	@echo "make build   build bin/edgetrust-broker, bin/edgetrust-agent, bin/edgetrustctl"
	@echo "make run     start a broker on $(LISTEN) with its data in .data/broker (embedded SQLite)"
	@echo "make test    gofmt + go vet + cross + every test with -race (unit, store conformance, fuzz seeds, end-to-end)"
	@echo "make cross   build every command for $(CROSS) into bin/OS-ARCH/ and vet the agent there"
	@echo "make fuzz    run every fuzz target for FUZZTIME each (default 30s)"

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(CMDS)

run: build
	@mkdir -p $(DATA)
	$(BIN)/edgetrust-broker serve --data-dir $(DATA)/broker --listen $(LISTEN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Build every command for the other systems and vet the agent's packages,
# tests included, as compiled there: those systems are compiled here, not run.
cross:
	@set -e; for p in $(CROSS); do \
	  os=$${p%/*}; arch=$${p#*/}; echo "cross $$os/$$arch"; \
	  GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$os-$$arch/ $(CMDS); \
	  GOOS=$$os GOARCH=$$arch $(GO) vet ./agent/... ./internal/... ./cmd/edgetrust-agent; \
	done

# The end-to-end tests run binaries built once here, with the race detector.
test: lint cross
	@mkdir -p $(BIN)/race
	$(GO) build -race -o $(BIN)/race/ $(CMDS)
	EDGETRUST_BIN_DIR=$(BIN)/race $(GO) test -race -count=1 -timeout 15m ./...

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN) dist
