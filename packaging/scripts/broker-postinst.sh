#!/bin/sh
# edgetrust-broker postinst (.deb: "configure" [OLD_VERSION]; .rpm: 1 install, 2 upgrade).
# Creates the service user and its state directory, keeps state, starts the
# broker where systemd runs. Never fails for want of systemd.
set -e
NAME=edgetrust-broker

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
		--shell "$nologin" --comment "edgetrust broker" "$NAME"
install -d -m 0700 -o "$NAME" -g "$NAME" "/var/lib/$NAME"

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ -n "$upgrade" ]; then
		systemctl try-restart "$NAME.service" >/dev/null 2>&1 || true
	else
		systemctl enable --now "$NAME.service" >/dev/null 2>&1 || true
		echo "$NAME: started; the admin password is in /var/lib/$NAME/initial-admin-password"
	fi
else
	echo "$NAME: systemd is not running here; start the broker with:"
	echo "  runuser -u $NAME -- $NAME serve --data-dir /var/lib/$NAME"
fi
exit 0
