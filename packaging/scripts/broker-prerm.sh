#!/bin/sh
# edgetrust-broker prerm (.deb: "remove" | "upgrade" ...; .rpm: 0 erase, 1 upgrade).
set -e
NAME=edgetrust-broker

case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$NAME.service" >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
