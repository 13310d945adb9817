#!/usr/bin/env bash
# ensure-go.sh: find (or get) the Go toolchain that go.mod names, and print the path of its
# `go` command on stdout. Everything else (what it found, what it fetches) goes to stderr.
#
# usage: tools/ensure-go.sh [--apt-only]
#
# The project builds with exactly the toolchain go.mod names (its `toolchain` line, else its
# `go` line), so that every machine builds the same binary. In order:
#
#  1. A Go in $GO, PATH, /usr/local/go/bin, /usr/lib/go-1.*/bin or the module cache that is
#     that version: used as it is.
#  2. A Go 1.21 or later: it fetches the toolchain itself (GOTOOLCHAIN=goX.Y.Z), through the
#     Go module proxy, checked against the checksum database, into the module cache.
#  3. An older Go (Debian 11's 1.15, Debian 12's 1.19): it downloads the same module
#     (golang.org/toolchain@v0.0.1-goX.Y.Z.linux-ARCH) with `go mod download`, which checks it
#     against the checksum database too; this script then does what Go 1.21+ does after such a
#     download (execute bits, src/_go.mod -> go.mod) and uses it.
#  4. No Go at all: as root, apt's Go of this release is installed (the newest golang-1.NN-go
#     or golang-go apt offers), then 2 or 3. As another user: a message saying what to run.
#
# Nothing is downloaded from anywhere but apt's sources and the Go module proxy
# ($GOPROXY if set, else https://proxy.golang.org); the checksum database is always
# sum.golang.org, whatever GOSUMDB, GONOSUMDB, GOPRIVATE or GOFLAGS say.
#
# --apt-only: only step 4's apt part (install apt's Go if there is no Go at all); prints
# nothing on stdout. `make install` runs this as root before building as the invoking user.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf 'ensure-go: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

apt_only=0
[[ ${1:-} == --apt-only ]] && apt_only=1

# The toolchain go.mod asks for, as goX.Y.Z.
want=$(awk '$1 == "toolchain" { t = $2 } $1 == "go" { g = "go" $2 } END { print (t != "" ? t : g) }' "$ROOT/go.mod")
[[ $want =~ ^go1\.[0-9]+(\.[0-9]+)?$ ]] || die "cannot read the Go version from $ROOT/go.mod (got '$want')"

case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac
toolchain_mod=golang.org/toolchain@v0.0.1-$want.linux-$arch

# Settings for every go command this script runs: no flags from the environment, the
# public checksum database, the proxy (never "direct").
fetch_env=(env GOFLAGS= GOSUMDB=sum.golang.org GONOSUMDB= GONOSUMCHECK= GOPRIVATE= GOINSECURE=
	GOPROXY="${GOPROXY:-https://proxy.golang.org}")
[[ ${GOPROXY:-} == *direct* || ${GOPROXY:-} == off ]] && fetch_env[-1]=GOPROXY=https://proxy.golang.org

# version_of GO: prints 1.N.M (without "go") or fails.
version_of() {
	local v
	v=$(cd / && GOTOOLCHAIN=local "$1" version 2>/dev/null | awk '{ print $3 }') || return 1
	[[ $v == go1.* ]] || return 1
	echo "${v#go}"
}
# ge A B: version A >= version B (both 1.N[.M]).
ge() { [[ $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1) == "$2" ]]; }

candidates() {
	local d
	[[ -n ${GO:-} ]] && command -v "$GO" 2>/dev/null
	command -v go 2>/dev/null || true
	[[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go
	for d in $(ls -d /usr/lib/go-1.* 2>/dev/null | sort -V -r); do
		[[ -x $d/bin/go ]] && echo "$d/bin/go"
	done
	[[ -x /usr/lib/go/bin/go ]] && echo /usr/lib/go/bin/go
	true
}

# The module cache a go command would use (GOMODCACHE, else GOPATH's first entry /pkg/mod).
modcache() {
	if [[ -n ${GOMODCACHE:-} ]]; then echo "$GOMODCACHE"; return; fi
	local gp=${GOPATH:-$HOME/go}
	echo "${gp%%:*}/pkg/mod"
}

# A toolchain fetched earlier (by this script or by Go's own switching).
cached_toolchain() {
	local g
	g="$(modcache)/$toolchain_mod/bin/go"
	[[ -x $g && -f $(dirname "$g")/../src/go.mod ]] && echo "$g"
}

# Install apt's newest Go if the machine has none.
apt_go() {
	[[ -n $(candidates) ]] && return 0
	if [[ $EUID -ne 0 ]]; then
		die "no Go found (PATH, /usr/local/go/bin, /usr/lib/go-1.*/bin). Run the install as root (sudo make install), which installs apt's Go, or: sudo apt-get install golang-go"
	fi
	command -v apt-get >/dev/null || die "no Go found, and no apt-get to install one: install Go $want (https://go.dev/doc/install)"
	local pkgs best="" bestv=0
	pkgs=$(apt-cache pkgnames golang-1. 2>/dev/null | grep -E '^golang-1\.[0-9]+-go$' || true)
	if [[ -z $pkgs ]] && ! apt-cache policy golang-go 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		say "updating apt's package lists (apt-get update)"
		apt-get update -qq >&2 || die "apt-get update failed"
		pkgs=$(apt-cache pkgnames golang-1. 2>/dev/null | grep -E '^golang-1\.[0-9]+-go$' || true)
	fi
	local p v
	for p in $pkgs; do
		apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' || continue
		v=${p#golang-}
		v=${v%-go}
		if [[ $bestv == 0 ]] || ! ge "$bestv" "$v"; then best=$p bestv=$v; fi
	done
	[[ -n $best ]] || best=golang-go
	# ca-certificates: the module proxy is HTTPS.
	say "no Go on this machine: installing apt's $best (apt-get install $best ca-certificates)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$best" ca-certificates >&2 ||
		die "apt-get install $best failed"
}

# Turn a freshly downloaded toolchain module into a runnable GOROOT, as Go 1.21+ does after
# its own download: module zips keep no execute bits, and hold src/**/go.mod as _go.mod.
fix_toolchain() {
	local dir=$1 f d
	find "$dir/pkg/tool" "$dir/bin" -type f -exec chmod a+x {} +
	find "$dir/lib" -type f -name 'go_*_*_exec' -exec chmod a+x {} + 2>/dev/null || true
	while IFS= read -r f; do
		[[ $f == "$dir/src/_go.mod" ]] && continue
		d=$(dirname "$f")
		[[ -f $d/go.mod ]] && continue
		chmod u+w "$d" && cp "$f" "$d/go.mod" && chmod u-w "$d"
	done < <(find "$dir/src" -name _go.mod)
	# src/go.mod last: its presence says the tree is complete.
	chmod u+w "$dir/src" && cp "$dir/src/_go.mod" "$dir/src/go.mod" && chmod u-w "$dir/src"
}

# Fetch the toolchain module with an old go (no toolchain switching).
bootstrap() {
	local old=$1 oldv=$2 tmp dir
	say "Go $oldv at $old is older than $want (go.mod) and cannot switch toolchains (Go 1.21+ can);"
	say "fetching $toolchain_mod through the Go module proxy with it (go mod download checks it against sum.golang.org)"
	tmp=$(mktemp -d)
	# A throwaway module, so that `go mod download` of an old Go has a main module.
	printf 'module ensurego.invalid/bootstrap\n' >"$tmp/go.mod"
	if ! dir=$(cd "$tmp" && "${fetch_env[@]}" GO111MODULE=on GOTOOLCHAIN=local "$old" mod download -json "$toolchain_mod" |
		sed -n -e 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' -e 's/^[[:space:]]*"Error": "\(.*\)"$/ensure-go: go mod download: \1/w /dev/stderr'); then
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$tmp"
	[[ -n $dir && -f $dir/bin/go ]] || return 1
	fix_toolchain "$dir"
	echo "$dir/bin/go"
}

# Resolve a candidate to the wanted toolchain's go command, or fail.
resolve() {
	local c=$1 v goroot
	v=$(version_of "$c") || return 1
	if [[ go$v == "$want" ]]; then
		say "using $want at $c"
		echo "$c"
		return 0
	fi
	if ge "$v" 1.21; then
		if [[ -z $(cached_toolchain) ]]; then
			say "Go $v at $c; go.mod wants $want: Go fetches it through the Go module proxy (GOTOOLCHAIN=$want, checked against sum.golang.org)"
		fi
		goroot=$(cd "$ROOT" && "${fetch_env[@]}" GOTOOLCHAIN="$want" "$c" env GOROOT) || return 1
		[[ $(version_of "$goroot/bin/go") == "${want#go}" ]] || return 1
		[[ -z $(cached_toolchain) ]] || say "using $want at $goroot/bin/go (switched to by Go $v at $c)"
		echo "$goroot/bin/go"
		return 0
	fi
	if ge "$v" 1.13; then
		bootstrap "$c" "$v" && say "using $want at $(cached_toolchain)" && return 0
		return 1
	fi
	say "Go $v at $c is too old to fetch modules checked against sum.golang.org (needs 1.13+); skipping it"
	return 1
}

apt_go
((apt_only)) && exit 0

if g=$(cached_toolchain) && [[ $(version_of "$g") == "${want#go}" ]]; then
	echo "$g"
	exit 0
fi
tried=()
while IFS= read -r c; do
	[[ -n $c ]] || continue
	if out=$(resolve "$c"); then
		echo "$out"
		exit 0
	fi
	tried+=("$c (Go $(version_of "$c" || echo '?'))")
done < <(candidates | while IFS= read -r c; do echo "$(readlink -f "$c")"; done | awk '!seen[$0]++')
die "go.mod needs $want; found only ${tried[*]:-no Go}, and fetching $want through the Go module proxy failed (messages above). Install Go $want (https://go.dev/doc/install) or check the network, then run make again."
