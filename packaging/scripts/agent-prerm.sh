#!/bin/sh
# edgetrust-agent prerm (.deb: "remove" | "upgrade" ...; .rpm: 0 erase, 1 upgrade).
# On removal stops the service and removes its registration (systemd unit
# enablement, or the SysV init script and its /etc/rc?.d links) while the
# binary is still there. An upgrade keeps everything.
set -e
NAME=edgetrust-agent

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -x "/usr/bin/$NAME" ]; then
	"/usr/bin/$NAME" uninstall >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
	systemctl disable --now "$NAME.service" >/dev/null 2>&1 || true
fi
exit 0
