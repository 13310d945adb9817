#!/bin/sh
# qemu-as-nobody.sh QEMU TEST-BINARY ARGS...: go test's -exec for `make test-arm64`. Runs
# the arm64 test binary under qemu-user as nobody, so that root-only tests skip (they would
# start the daemon binary, which qemu cannot run without binfmt_misc). go test builds the
# binary in a directory only its owner can read, so it is copied to one nobody can.
qemu=$1
bin=$2
shift 2
dir=$(mktemp -d) || exit 1
chmod 0755 "$dir" && cp "$bin" "$dir/test" && chmod 0755 "$dir/test" || { rm -rf "$dir"; exit 1; }
setpriv --reuid=65534 --regid=65534 --clear-groups "$qemu" "$dir/test" "$@"
rc=$?
rm -rf "$dir"
exit $rc
