#!/bin/sh
# Makes sure a Chromium is installed for the console's browser tests
# (broker/console/browser_test.go): installs it with apt-get where it is
# missing. 'make test' runs it first. On CI (CI=true) a browser still
# missing afterwards is a failure; elsewhere the script says what to do
# and the tests skip.
set -eu

find_browser() {
	for b in "${EDGETRUST_CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
		[ -n "$b" ] || continue
		if command -v "$b" >/dev/null 2>&1; then
			command -v "$b"
			return 0
		fi
	done
	return 1
}

if path=$(find_browser); then
	echo "chromium: $path"
	exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then
		SUDO=sudo
	fi
	echo "chromium: not found; installing it with apt-get"
	$SUDO apt-get update
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi

if path=$(find_browser); then
	echo "chromium: $path"
	exit 0
fi

if [ "${CI:-}" = "true" ]; then
	echo "chromium: not found and could not be installed; the console's browser tests need it" >&2
	exit 1
fi
echo "chromium: not found; install it (apt-get install chromium) or set EDGETRUST_CHROMIUM, or the browser tests will be skipped" >&2
exit 0
