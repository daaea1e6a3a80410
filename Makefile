# edgetrust — build, run and test. See README.md.
GO        ?= go
BIN       := $(CURDIR)/bin
DATA      := $(CURDIR)/.data
LISTEN    ?= 127.0.0.1:7443
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
CMDS      := ./cmd/edgetrust-broker ./cmd/edgetrust-agent ./cmd/edgetrustctl
FUZZTIME  ?= 20s
BENCHFLAGS ?=
# Packages: version from git (packaging/version.sh), architecture of this Go.
PKG_VERSION = $(shell sh packaging/version.sh)
PKG_ARCH  ?= $(shell $(GO) env GOARCH)
NFPM      := $(BIN)/nfpm
DIST      := $(CURDIR)/dist
# Other systems the binaries are cross-built for (docs/platforms.md).
CROSS     ?= windows/amd64 darwin/arm64 linux/arm64

.PHONY: all build run test test-race-bin lint unit integration fuzz cross bench clean help package soak

all: build

help:
	@echo "make build   build bin/edgetrust-broker, bin/edgetrust-agent, bin/edgetrustctl"
	@echo "make run     start a broker on $(LISTEN) with its data in .data/broker (embedded SQLite)"
	@echo "make test    gofmt + go vet + cross + every test with -race (unit, store conformance on SQLite and PostgreSQL, fuzz seeds, end-to-end)"
	@echo "make cross   build the agent and edgetrustctl for $(CROSS) into bin/OS-ARCH/ and vet the agent there"
	@echo "make fuzz    run every fuzz target for FUZZTIME each (default 20s; seeds in each package's testdata/fuzz run in go test too)"
	@echo "make package build dist/edgetrust-{agent,broker}_VERSION_ARCH.deb and .rpm (PKG_ARCH=arm64 for another arch)"
	@echo "make soak    stop a throwaway PostgreSQL for 40 s under load on brokers sharing it (integration/faults_test.go),"
	@echo "             and SIGKILL the broker every 4 s for two minutes under load (integration/soak_test.go)"
	@echo "make bench   measure a real broker against this machine's limits, on SQLite and on a throwaway PostgreSQL; table on stdout, bench.json (BENCHFLAGS=--quick: SQLite only, under 2 min)"

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(CMDS)

run: build
	@mkdir -p $(DATA)
	$(BIN)/edgetrust-broker serve --data-dir $(DATA)/broker --listen $(LISTEN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Build the programs that run on devices and admins' machines (the agent and
# edgetrustctl) for the other systems and vet the agent's packages, tests
# included, as compiled there: those systems are compiled here, not run. The
# broker is Linux-only (its SQLite build is the slowest to cross-compile).
CROSS_CMDS := ./cmd/edgetrust-agent ./cmd/edgetrustctl
cross:
	@set -e; for p in $(CROSS); do \
	  os=$${p%/*}; arch=$${p#*/}; echo "cross $$os/$$arch"; \
	  GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$os-$$arch/ $(CROSS_CMDS); \
	  GOOS=$$os GOARCH=$$arch $(GO) vet ./agent/... ./internal/... ./cmd/edgetrust-agent; \
	done

# The end-to-end tests run binaries built once here, with the race detector,
# and install the .deb that 'make package' built (integration/package_test.go).
# The PostgreSQL tests (store conformance, brokers sharing a database) run on
# a throwaway server that scripts/postgres.sh starts and, however the tests
# end, stops and removes.
# scripts/chromium.sh installs the browser of the console's tests when it is missing.
test: lint cross package
	sh scripts/chromium.sh
	@mkdir -p $(BIN)/race
	$(GO) build -race -o $(BIN)/race/ $(CMDS)
	@pg=$$(mktemp -d /tmp/edgetrust-pg.XXXXXX) && trap 'bash scripts/postgres.sh stop '"$$pg" EXIT && \
	  eval "$$(bash scripts/postgres.sh start $$pg)" && export EDGETRUST_TEST_POSTGRES && \
	  echo "EDGETRUST_BIN_DIR=$(BIN)/race EDGETRUST_DIST_DIR=$(DIST) $(GO) test -race -count=1 -timeout 15m ./..." && \
	  EDGETRUST_BIN_DIR=$(BIN)/race EDGETRUST_DIST_DIR=$(DIST) $(GO) test -race -count=1 -timeout 15m ./...

# The fault tests, longer: the database of brokers sharing it stopped for
# 40 s under load instead of 5 s (the test starts and removes its own
# PostgreSQL server, scripts/postgres.sh), and the broker SIGKILLed every
# 4 s for two minutes under load instead of 3 times; each prints its
# figures (acknowledged, found, lost). Not part of 'make test', which runs
# the short versions.
soak:
	@mkdir -p $(BIN)/race
	$(GO) build -race -o $(BIN)/race/ $(CMDS)
	EDGETRUST_SOAK=1 EDGETRUST_BIN_DIR=$(BIN)/race $(GO) test -race -count=1 -timeout 10m -v -run '^(TestDatabaseStoppedUnderLoad|TestBrokerKilledUnderLoad)$$' ./integration/

# nfpm is pinned in its own module (tools/go.mod) so that its dependencies
# never enter the product's go.mod.
$(NFPM): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(NFPM) github.com/goreleaser/nfpm/v2/cmd/nfpm

# Static Linux binaries, stamped with the package version, then one .deb and
# one .rpm per program; older packages in dist/ are replaced.
package: $(NFPM)
	@rm -rf $(BIN)/pkg && mkdir -p $(BIN)/pkg $(DIST)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(PKG_ARCH) $(GO) build -trimpath \
	    -ldflags '-s -w -X main.version=$(PKG_VERSION)' -o $(BIN)/pkg/ $(CMDS)
	rm -f $(DIST)/edgetrust-agent[_-]* $(DIST)/edgetrust-broker[_-]*
	@for p in agent broker; do for f in deb rpm; do \
	  VERSION=$(PKG_VERSION) ARCH=$(PKG_ARCH) $(NFPM) package -f packaging/nfpm/$$p.yaml -p $$f -t $(DIST)/ || exit 1; \
	done; done
	@ls -1 $(DIST)

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The benchmark starts the broker built here as its own process; see BENCHMARKS.md.
# Unless BENCHFLAGS has --quick (SQLite only) or its own --store, it also
# measures brokers on PostgreSQL, on a throwaway server that
# scripts/postgres.sh starts and, however the run ends, stops and removes;
# when no server is installed (or it does not start) the SQLite figures are
# still measured and the table says the PostgreSQL ones were not.
bench:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/edgetrust-broker ./cmd/edgetrust-bench
	@store=; \
	if [ -n "$(filter --quick --store --store=%,$(BENCHFLAGS))" ]; then :; \
	elif ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
	  echo "make bench: no PostgreSQL server in /usr/lib/postgresql/*/bin (apt-get install postgresql): PostgreSQL not measured" >&2; \
	else \
	  pg=$$(mktemp -d /tmp/edgetrust-bench-pg.XXXXXX) && trap 'bash scripts/postgres.sh stop '"$$pg" EXIT && trap 'exit 130' INT TERM; \
	  if env=$$(bash scripts/postgres.sh start $$pg); then \
	    store="--store $$(echo "$$env" | sed -n 's/^EDGETRUST_TEST_POSTGRES=//p')"; \
	  else echo "make bench: the PostgreSQL server did not start: PostgreSQL not measured" >&2; fi; \
	fi; \
	echo "$(BIN)/edgetrust-bench --broker-bin $(BIN)/edgetrust-broker --json $(CURDIR)/bench.json $$store $(BENCHFLAGS)"; \
	$(BIN)/edgetrust-bench --broker-bin $(BIN)/edgetrust-broker --json $(CURDIR)/bench.json $$store $(BENCHFLAGS)
	# The console's server time per page (p50-ms, p99-ms): queue at 1,000 pending, endpoints at 100,000.
	$(GO) test -run '^$$' -bench 'BenchmarkConsole' -benchtime 100x ./broker/console/

clean:
	rm -rf $(BIN) dist
