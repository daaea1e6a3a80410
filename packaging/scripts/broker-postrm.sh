#!/bin/sh
# edgetrust-broker postrm (.deb: "remove" | "purge" | "upgrade" ...; .rpm: 0 erase, 1 upgrade).
# Removal keeps the data (store, keys, certificate); only a purge removes it,
# with the service user. rpm has no purge: remove /var/lib/edgetrust-broker
# by hand if wanted.
set -e
NAME=edgetrust-broker

case "$1" in
remove | 0)
	[ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
	;;
purge)
	rm -rf "/var/lib/$NAME" "/etc/$NAME"
	getent passwd "$NAME" >/dev/null 2>&1 && userdel "$NAME" >/dev/null 2>&1 || true
	getent group "$NAME" >/dev/null 2>&1 && groupdel "$NAME" >/dev/null 2>&1 || true
	[ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
	;;
esac
exit 0
