# memory-monitor build, test and packaging entry points.
# `make install` builds the .deb and installs it; `make test` runs the test suite.

SHELL        := /bin/bash
VERSION      ?= $(shell cat VERSION)

# The go command. tools/ensure-go.sh finds the toolchain go.mod names (or fetches it through
# the Go module proxy, installing apt's Go first as root if there is none) and prints its
# path; it runs once per make, and only for targets that need Go. GO=... is checked too.
ifeq ($(origin GOTOOL),undefined)
GOTOOL = $(eval GOTOOL := $$(shell GO='$(GO)' tools/ensure-go.sh))$(or $(GOTOOL),$(error no usable Go (see the ensure-go messages above)))
endif

# Debian architecture of the package (amd64 or arm64; the Go and Debian names agree).
HOST_ARCH    := $(shell dpkg --print-architecture 2>/dev/null || uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
ARCH         ?= $(HOST_ARCH)
BIN          := $(if $(filter $(ARCH),$(HOST_ARCH)),bin/memory-monitor,bin/linux-$(ARCH)/memory-monitor)

# Everything that decides the binary's bytes is set here, so that GOFLAGS, GOAMD64,
# GOEXPERIMENT and the like in the caller's environment (or `go env -w`) change nothing:
# static (no cgo), no VCS stamp, no build id, no file system paths.
GOBUILD_ENV  := env GOFLAGS= CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) GOAMD64=v1 GOARM64=v8.0 \
                GOEXPERIMENT= GOTOOLCHAIN=local
GOFLAGS_BUILD := -trimpath -buildvcs=false -mod=readonly
LDFLAGS      := -s -w -buildid= -X main.version=$(VERSION)

# Under sudo, files in the checkout are made as the user who ran sudo, so that `sudo make
# install` leaves nothing owned by root behind (their `make clean` and `make deb` keep working).
AS_USER      := $(if $(and $(SUDO_USER),$(filter-out root,$(SUDO_USER)),$(filter 0,$(shell id -u))),\
                runuser -u $(SUDO_USER) -- env HOME=$(shell getent passwd $(SUDO_USER) | cut -d: -f6) \
                USER=$(SUDO_USER) LOGNAME=$(SUDO_USER))

.PHONY: all build test test-deps test-arm64 lint deb deb-arm64 package-test install e2e e2e-all bench bench-short clean

all: build

build:
	$(GOBUILD_ENV) $(GOTOOL) build $(GOFLAGS_BUILD) -ldflags='$(LDFLAGS)' -o $(BIN) ./cmd/memory-monitor

# Every test: formatting, vet, module tidiness, unit, fixture, CLI and (as root) the
# PID-namespace integration tests, all with the race detector. Ends with every skipped test
# and its reason, then "N passed, N failed, N skipped".
test: lint test-deps
	set -o pipefail; env GOFLAGS=-buildvcs=false $(GOTOOL) test -json -race -count=1 ./... | awk -f tools/test-summary.awk

# -race needs cgo, so gcc and the C library headers: installed as root, named otherwise.
test-deps:
	@if ! command -v gcc >/dev/null || ! test -e /usr/include/stdlib.h; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make test: go test -race needs cgo: installing gcc and libc6-dev (apt-get install gcc libc6-dev)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null || exit 1; \
	  else \
	    echo "make test: go test -race needs cgo, so gcc and libc6-dev: sudo apt-get install gcc libc6-dev" >&2; exit 1; \
	  fi; \
	fi
	@if [ "$$(id -u)" != 0 ]; then echo "make test: not root: the PID-namespace integration tests will be skipped (sudo make test runs them)"; fi

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	env GOFLAGS= $(GOTOOL) vet ./...
	env GOFLAGS= $(GOTOOL) mod tidy -diff

# --- Debian package -------------------------------------------------------------------
# `make deb` builds dist/memory-monitor_$(VERSION)-1_$(ARCH).deb with nfpm (run from the
# separate tools module, so nfpm stays out of go.mod); `make deb ARCH=arm64` (or
# deb-arm64) the arm64 one, cross-compiled. VERSION=... and SOURCE_DATE_EPOCH=... may be
# given on the command line; the same inputs give a byte-identical .deb, whatever GOFLAGS
# says. The changelog's newest entry is made to carry VERSION (tools/changelog.sh).
DISTDIR           ?= dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
NFPM              = env GOFLAGS= GOAMD64=v1 GOEXPERIMENT= $(GOTOOL) tool -modfile=tools/go.mod nfpm
DEB               := $(DISTDIR)/memory-monitor_$(VERSION)-1_$(ARCH).deb
PKGTEST_VERSION   := $(VERSION)+pkgtest

# nfpm.yaml takes its files from bin/stage/ (one architecture at a time).
deb: build
	rm -rf bin/stage && mkdir -p bin/stage $(DISTDIR)
	cp $(BIN) bin/stage/memory-monitor
	gzip -9n -c man/memory-monitor.8 > bin/stage/memory-monitor.8.gz
	tools/changelog.sh '$(VERSION)' '$(SOURCE_DATE_EPOCH)' > bin/stage/changelog.yaml
	rm -f $(DEB)
	VERSION='$(VERSION)' ARCH='$(ARCH)' SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)' \
	  $(NFPM) package -f nfpm.yaml -p deb -t $(DEB)

deb-arm64:
	$(MAKE) deb ARCH=arm64 GOTOOL='$(GOTOOL)'

# Package tests: lintian, exact contents, unit hardening score and verify, man page lint,
# --help vs man page, dpkg install/upgrade/remove/purge in a throwaway bookworm chroot.
# Needs root and the tools that .ci/run installs; here a missing tool is a failure.
# The upgrade target is built first so that bin/ ends with the real version.
# The arm64 package is checked too (lintian, same contents, static aarch64 binary).
package-test:
	$(MAKE) deb VERSION='$(PKGTEST_VERSION)' DISTDIR=bin/pkgtest GOTOOL='$(GOTOOL)'
	$(MAKE) deb ARCH=arm64 DISTDIR=bin/arm64 GOTOOL='$(GOTOOL)'
	$(MAKE) deb GOTOOL='$(GOTOOL)'
	set -o pipefail; MEMORY_MONITOR_PACKAGE_TEST=1 MEMORY_MONITOR_DEB='$(CURDIR)/$(DEB)' \
	  MEMORY_MONITOR_DEB_UPGRADE='$(CURDIR)/bin/pkgtest/memory-monitor_$(PKGTEST_VERSION)-1_$(ARCH).deb' \
	  MEMORY_MONITOR_DEB_ARM64='$(CURDIR)/bin/arm64/memory-monitor_$(VERSION)-1_arm64.deb' \
	  GOTOOL='$(GOTOOL)' env GOFLAGS= $(GOTOOL) test -json -count=1 -v ./tests/package/ | awk -f tools/test-summary.awk

# The unit tests of internal/ for arm64, run under qemu-user (Debian's qemu-user-static),
# without -race (no cgo when cross-compiling). Not cmd/memory-monitor: its testscript
# re-executes the test binary as a command, which needs binfmt_misc (not registered here).
# The test binaries run as nobody (setpriv): the root-only integration tests start the
# daemon binary itself, which qemu cannot do without binfmt_misc, so they skip ("needs root").
QEMU_ARM64 ?= qemu-aarch64-static
test-arm64:
	@command -v $(QEMU_ARM64) >/dev/null || { echo "make test-arm64: needs $(QEMU_ARM64): apt-get install qemu-user-static" >&2; exit 2; }
	set -o pipefail; env GOFLAGS= GOARCH=arm64 CGO_ENABLED=0 $(GOTOOL) test -json -count=1 \
	  -exec '$(CURDIR)/tools/qemu-as-nobody.sh $(QEMU_ARM64)' ./internal/... | awk -f tools/test-summary.awk

# Build the package and install it on this machine (as root). Under sudo the build runs as
# the invoking user (AS_USER); apt's Go is installed first if the machine has none. apt
# installs a copy outside the checkout (its sandbox user may not read the user's home).
install:
	@if [ "$$(id -u)" != 0 ]; then echo "make install: needs root (it installs a package): sudo make install" >&2; exit 2; fi
	tools/ensure-go.sh --apt-only
	$(AS_USER) $(MAKE) deb
	tmp=$$(mktemp -d) && install -m 0644 $(DEB) $$tmp/ && chmod 0755 $$tmp && \
	  apt-get install -y $$tmp/$(notdir $(DEB)); rc=$$?; rm -rf $$tmp; exit $$rc

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
	$(MAKE) deb VERSION='$(VERSION)+e2e1' DISTDIR=$(E2E_DIST) GOTOOL='$(GOTOOL)'
	$(MAKE) deb VERSION='$(VERSION)+e2e2' DISTDIR=$(E2E_DIST) GOTOOL='$(GOTOOL)'
	$(MAKE) build GOTOOL='$(GOTOOL)'
	tests/e2e/run.sh $(DEB) \
	  $(E2E_DIST)/memory-monitor_$(VERSION)+e2e1-1_$(ARCH).deb \
	  $(E2E_DIST)/memory-monitor_$(VERSION)+e2e2-1_$(ARCH).deb

# The install/stop/upgrade/purge scenarios on Debian 11 and 13 as well (E2E_SUITE), and the
# fresh-machine scenario: README's two commands in a Debian 12 without Go (tests/e2e/fresh.sh).
e2e-all: e2e
	E2E_SUITE=bullseye tests/e2e/run.sh $(DEB) \
	  $(E2E_DIST)/memory-monitor_$(VERSION)+e2e1-1_$(ARCH).deb \
	  $(E2E_DIST)/memory-monitor_$(VERSION)+e2e2-1_$(ARCH).deb
	E2E_SUITE=trixie tests/e2e/run.sh $(DEB) \
	  $(E2E_DIST)/memory-monitor_$(VERSION)+e2e1-1_$(ARCH).deb \
	  $(E2E_DIST)/memory-monitor_$(VERSION)+e2e2-1_$(ARCH).deb
	tests/e2e/fresh.sh

# Benchmarks, as root (each run confined to its own PID namespace, every hog bounded by
# timeout and prlimit): CPU per scan and allocations of the daemon's scanner against a raw
# C floor reader and ps at 100, 1,000 and 5,000 processes, the daemon's VmRSS and fds, idle
# CPU against earlyoom (fetched with apt-get download if not installed), and the reaction to
# hogs at 200 MiB/s, 1 GiB/s and unpaced with 2 and 16 GiB thresholds, a masked hog and a
# hog right after a kill (needs about 20 GiB free). It took 46 minutes on 2 CPUs under a
# load of 15-30 (the hogs fault in more slowly); less on a quiet machine. bench-short takes
# about a minute and only shows that the bench works (CI).
bench:
	PATH="$(dir $(GOTOOL)):$$PATH" bash tests/bench/bench.sh full

bench-short:
	PATH="$(dir $(GOTOOL)):$$PATH" bash tests/bench/bench.sh short

clean:
	rm -rf bin dist
