# memory-monitor build, test and packaging entry points.
# `make install` builds the .deb and installs it; `make test` runs the test suite.

SHELL        := /bin/bash
GO           ?= go
VERSION      ?= $(shell cat VERSION)
BIN          := bin/memory-monitor
GOFLAGS_BUILD := -trimpath
LDFLAGS      := -s -w -X main.version=$(VERSION)

.PHONY: all build test lint deb package-test install e2e bench bench-short clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -ldflags='$(LDFLAGS)' -o $(BIN) ./cmd/memory-monitor

# Every test: formatting, vet, module tidiness, unit, fixture, CLI and (as root) the
# PID-namespace integration tests, all with the race detector.
test: lint
	$(GO) test -race -count=1 ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

clean:
	rm -rf bin dist
