# retire: two commands do everything on a fresh machine.
#   make demo   a whole retirement on local defaults (MariaDB at 127.0.0.1:3306)
#   make test   unit, workflow, integration and end-to-end tests
SHELL := /bin/bash
BIN   := $(CURDIR)/bin
# Pinned: newer temporal CLI tags carry replace directives and do not build with go install.
TEMPORAL_VERSION := v1.5.1
MINIO_VERSION    := v0.0.0-20260212201848-7aac2a2c5b7c

.PHONY: all build tools services services-down demo demo-down test test-unit vet fmt clean bench test-oracle

all: build

build: $(BIN)/retire $(BIN)/retire-worker $(BIN)/retire-portal

$(BIN)/retire $(BIN)/retire-worker $(BIN)/retire-portal &: $(shell find . -name '*.go' -not -path './bin/*' -not -path './.data/*') go.mod go.sum
	go build -o $(BIN)/retire ./starter
	go build -o $(BIN)/retire-worker ./worker
	go build -o $(BIN)/retire-portal ./portal

# The real services the tests and the demo use, built once from the Go module proxy.
tools: $(BIN)/temporal $(BIN)/minio tools/duckdb/node_modules

# DuckDB (from npm, binary included) reads archives in the tests, as an independent reader.
tools/duckdb/node_modules: tools/duckdb/package.json tools/duckdb/package-lock.json
	cd tools/duckdb && npm install --no-audit --no-fund --no-save
	touch $@

$(BIN)/temporal:
	@echo "building temporal CLI $(TEMPORAL_VERSION) into ./bin (once; a few minutes on a cold cache)"
	GOBIN=$(BIN) GOFLAGS=-buildvcs=false go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION)

$(BIN)/minio:
	@echo "building MinIO $(MINIO_VERSION) into ./bin (once; a few minutes on a cold cache)"
	GOBIN=$(BIN) GOFLAGS=-buildvcs=false go install github.com/minio/minio@$(MINIO_VERSION)

services: tools build
	scripts/services.sh up

services-down:
	scripts/services.sh down

demo: tools build
	scripts/demo.sh

demo-down:
	scripts/services.sh down

# Archive, verify and restore against mariadb-dump | zstd and mydumper/myloader on sysbench
# data (see scripts/bench.sh for RUNS, TABLES, ROWS, BIG_ROWS).
bench: tools build
	scripts/bench.sh

# A fleet of N small databases (fleetbench_0001..N) retired end to end on one worker and one
# Temporal dev server: wall time per phase, the worker's peak RSS, events per history, MariaDB
# statements/s (see scripts/bench-fleet.sh; KEEP=1 keeps the services and what is left).
N ?= 100
.PHONY: bench-fleet
bench-fleet: tools build
	N=$(N) KEEP=$(KEEP) scripts/bench-fleet.sh

vet:
	gofmt -l . | (! grep .) || (echo "gofmt needed on the files above" && false)
	go vet ./...

# Test packages start their own MinIO and Temporal dev server from ./bin on free ports,
# and use the local MariaDB (127.0.0.1:3306, root) with databases of their own. One package
# at a time (-p 1): the usage-evidence tests switch server-wide settings (userstat, the
# audit plugin's logging) and read server-wide counters, which a package running beside
# them would disturb.
test: tools build vet
	go test -count=1 -p 1 -timeout 30m ./...

# The Oracle adapter against a real Oracle (e.g. the Oracle Free service of docker-compose.yml):
#   ORACLE_DSN=oracle://retire:pw@127.0.0.1:1521/FREEPDB1 make test-oracle
# Its unit tests and restore tests write archives to MinIO, hence ./bin/minio.
test-oracle: $(BIN)/minio
	go test -tags oracle -count=1 -v ./activities/oracle/

test-unit:
	go test -count=1 ./workflows/ ./config/ ./starter/

clean: services-down
	rm -rf .data
