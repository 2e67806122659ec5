#!/bin/sh
# meson install: install-config.sh SRC DIR puts SRC in $DESTDIR/DIR as
# peerlogd.conf, unless a peerlogd.conf is there already.
set -eu
src=$1
dir=${DESTDIR:-}$2
if [ -e "$dir/peerlogd.conf" ]; then
	echo "Keeping $dir/peerlogd.conf (the example is $src)"
	exit 0
fi
install -d -m 0755 "$dir"
install -m 0644 "$src" "$dir/peerlogd.conf"
echo "Installing $src to $dir"
