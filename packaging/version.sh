#!/bin/sh
# Prints the package version derived from git: X.Y.Z on a tag vX.Y.Z,
# X.Y.Z+N.gHASH N commits after it, 0.0.0+N.gHASH without a tag (N counts
# commits, so later builds sort higher), with ".dirty" for uncommitted
# changes. Valid for both dpkg and rpm.
set -e
cd "$(dirname "$0")/.."
hash=$(git rev-parse --short=10 HEAD 2>/dev/null) || { echo 0.0.0+unknown; exit 0; }
dirty=
git diff --quiet HEAD -- 2>/dev/null || dirty=.dirty
if desc=$(git describe --tags --match 'v[0-9]*' --long 2>/dev/null); then
	# vX.Y.Z-N-gHASH
	base=${desc%-*-g*}
	n=${desc%-g*}
	n=${n##*-}
	base=${base#v}
	if [ "$n" = 0 ]; then
		echo "$base${dirty:++dirty}"
	else
		echo "$base+$n.g$hash$dirty"
	fi
else
	echo "0.0.0+$(git rev-list --count HEAD).g$hash$dirty"
fi
