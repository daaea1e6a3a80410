#!/bin/sh
# edgetrust-agent postinst (.deb: "configure" [OLD_VERSION]; .rpm: 1 install, 2 upgrade).
# Creates the service user and the directories, keeps state, restarts a
# configured agent on upgrade. Never fails for want of systemd.
set -e
NAME=edgetrust-agent

case "$1" in
configure) upgrade=${2:+yes} ;;
1) upgrade= ;;
2) upgrade=yes ;;
*) exit 0 ;;
esac

nologin=$(command -v nologin 2>/dev/null || echo /bin/false)
getent group "$NAME" >/dev/null 2>&1 || groupadd --system "$NAME"
getent passwd "$NAME" >/dev/null 2>&1 ||
	useradd --system --gid "$NAME" --home-dir /nonexistent --no-create-home \
		--shell "$nologin" --comment "edgetrust agent" "$NAME"
install -d -m 0755 -o root -g root "/etc/$NAME"
install -d -m 0700 -o "$NAME" -g "$NAME" "/var/lib/$NAME"

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ -f "/etc/$NAME/agent.conf" ]; then
		if [ -n "$upgrade" ]; then
			systemctl try-restart "$NAME.service" >/dev/null 2>&1 || true
		else
			systemctl enable --now "$NAME.service" >/dev/null 2>&1 || true
		fi
	fi
elif [ -n "$upgrade" ] && [ -x "/etc/init.d/$NAME" ]; then
	# No systemd: 'edgetrust-agent install' made a SysV init script.
	if "/etc/init.d/$NAME" status >/dev/null 2>&1; then
		"/etc/init.d/$NAME" restart >/dev/null 2>&1 || true
	fi
fi

if [ ! -f "/etc/$NAME/agent.conf" ]; then
	echo "$NAME: configure and start it with:"
	echo "  $NAME install --broker HOST:PORT --api-key-file FILE [--broker-ca FILE | --broker-fingerprint sha256:HEX]"
fi
exit 0
