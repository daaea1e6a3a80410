#!/bin/sh
# edgetrust-agent postrm (.deb: "remove" | "purge" | "upgrade" ...; .rpm: 0 erase, 1 upgrade).
# Removal keeps the configuration and state (the device's identity); only a
# purge removes them, with the service user. rpm has no purge: remove
# /etc/edgetrust-agent and /var/lib/edgetrust-agent by hand if wanted.
set -e
NAME=edgetrust-agent

remove_sysv() {
	# kardianos/service's SysV uninstall leaves the /etc/rc?.d links.
	for l in /etc/rc?.d/[SK][0-9][0-9]"$NAME"; do
		[ -L "$l" ] && rm -f "$l"
	done
	rm -f "/etc/init.d/$NAME"
}

case "$1" in
remove | 0)
	remove_sysv
	[ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
	;;
purge)
	remove_sysv
	rm -rf "/etc/$NAME" "/var/lib/$NAME" "/run/$NAME"
	rm -f "/var/log/$NAME.log" "/var/run/$NAME.pid"
	getent passwd "$NAME" >/dev/null 2>&1 && userdel "$NAME" >/dev/null 2>&1 || true
	getent group "$NAME" >/dev/null 2>&1 && groupdel "$NAME" >/dev/null 2>&1 || true
	[ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
	;;
esac
exit 0
