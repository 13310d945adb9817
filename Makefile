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

# --- Debian package -------------------------------------------------------------------
# `make deb` builds dist/memory-monitor_$(VERSION)-1_amd64.deb with nfpm (run from the
# separate tools module, so nfpm stays out of go.mod). VERSION=... and SOURCE_DATE_EPOCH=...
# may be given on the command line; the same inputs give a byte-identical .deb.
DISTDIR           ?= dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
NFPM              := $(GO) tool -modfile=tools/go.mod nfpm
DEB               := $(DISTDIR)/memory-monitor_$(VERSION)-1_amd64.deb
PKGTEST_VERSION   := $(VERSION)+pkgtest

deb: build
	gzip -9n -c man/memory-monitor.8 > bin/memory-monitor.8.gz
	mkdir -p $(DISTDIR)
	rm -f $(DEB)
	VERSION='$(VERSION)' SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)' \
	  $(NFPM) package -f nfpm.yaml -p deb -t $(DEB)

# Package tests: lintian, exact contents, unit hardening score and verify, man page lint,
# --help vs man page, dpkg install/upgrade/remove/purge in a throwaway bookworm chroot.
# Needs root and the tools that .ci/run installs; here a missing tool is a failure.
# The upgrade target is built first so that bin/ ends with the real version.
package-test:
	$(MAKE) deb VERSION='$(PKGTEST_VERSION)' DISTDIR=bin/pkgtest
	$(MAKE) deb
	MEMORY_MONITOR_PACKAGE_TEST=1 MEMORY_MONITOR_DEB='$(CURDIR)/$(DEB)' \
	  MEMORY_MONITOR_DEB_UPGRADE='$(CURDIR)/bin/pkgtest/memory-monitor_$(PKGTEST_VERSION)-1_amd64.deb' \
	  $(GO) test -count=1 -v ./tests/package/

# Build the package and install it on this machine (as root).
install: deb
	apt-get install -y ./$(DEB)

# --- End-to-end test ----------------------------------------------------------------------
# Boots Debian 12 with systemd as PID 1 in a throwaway systemd-nspawn container, installs
# the .deb with apt and checks what an administrator does with it (tests/e2e/README.md).
# Needs root, debootstrap, systemd-container and zstd. The bookworm root filesystem is
# cached in $$E2E_CACHE (default /var/cache/memory-monitor-e2e). Two upgrade packages with
# higher versions are built into bin/e2e; `build` then puts the real version back in bin/.
E2E_DIST := bin/e2e

e2e: deb
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make e2e: needs root (it boots a container with systemd-nspawn): sudo make e2e" >&2; exit 2; fi
	$(MAKE) deb VERSION='$(VERSION)+e2e1' DISTDIR=$(E2E_DIST)
	$(MAKE) deb VERSION='$(VERSION)+e2e2' DISTDIR=$(E2E_DIST)
	$(MAKE) build
	tests/e2e/run.sh $(DEB) \
	  $(E2E_DIST)/memory-monitor_$(VERSION)+e2e1-1_amd64.deb \
	  $(E2E_DIST)/memory-monitor_$(VERSION)+e2e2-1_amd64.deb

# Benchmarks, as root (each run confined to its own PID namespace, every hog bounded by
# timeout and prlimit): CPU per scan and allocations of the daemon's scanner against a raw
# C floor reader and ps at 100, 1,000 and 5,000 processes, the daemon's VmRSS and fds, idle
# CPU against earlyoom (fetched with apt-get download if not installed), and the reaction to
# hogs at 200 MiB/s, 1 GiB/s and unpaced with 2 and 16 GiB thresholds, a masked hog and a
# hog right after a kill (needs about 20 GiB free). It took 46 minutes on 2 CPUs under a
# load of 15-30 (the hogs fault in more slowly); less on a quiet machine. bench-short takes
# about a minute and only shows that the bench works (CI).
bench:
	bash tests/bench/bench.sh full

bench-short:
	bash tests/bench/bench.sh short

clean:
	rm -rf bin dist
