#!/usr/bin/env bash
# changelog.sh VERSION SOURCE_DATE_EPOCH: prints debian/changelog.yaml (chglog format, the
# source of the package's changelog.Debian.gz) with its newest entry carrying VERSION-1.
# If the newest entry already is VERSION-1, the file is printed as it is; otherwise (a build
# of a version that has no entry yet, such as an upgrade test's 0.1.0+e2e1) an entry for
# VERSION-1 dated SOURCE_DATE_EPOCH is put on top, so the package never claims an older
# version than it is.
set -euo pipefail
version=$1 epoch=$2
src=$(dirname "$0")/../debian/changelog.yaml
newest=$(awk '/^- semver:/ { print $3; exit }' "$src")
if [[ $newest == "$version-1" ]]; then
	cat "$src"
	exit 0
fi
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
awk '/^- semver:/ && !done { exit } { print }' "$src"
cat <<ENTRY
- semver: $version-1
  date: $date
  packager: memory-monitor maintainers <maintainers@memory-monitor.example>
  deb:
    urgency: medium
    distributions:
      - unstable
  changes:
    - note: |-
        Version $version, built from the source tree (debian/changelog.yaml has no
        entry for it; the newest entry there is $newest).
ENTRY
awk '/^- semver:/ { on = 1 } on { print }' "$src"
