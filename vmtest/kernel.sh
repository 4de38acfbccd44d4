#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vmtest/kernel.sh VERSION WORKDIR: fetches Debian's newest amd64 kernel of
# VERSION (5.10: bullseye, 6.1: bookworm, 6.12: trixie) from the mirror this
# host's apt already uses, unpacks it under WORKDIR/kernel/, and prints two
# lines: the kernel image and its modules folder.
set -euo pipefail
VERSION=$1
WORK=$2
case "$VERSION" in
5.10) suite=bullseye ;;
6.1) suite=bookworm ;;
6.12) suite=trixie ;;
*) echo "vmtest: no Debian suite known for kernel $VERSION (5.10, 6.1 or 6.12)" >&2; exit 2 ;;
esac

# The host's Debian mirror: the first URIs/deb line of its apt sources.
mirror() {
	local f u
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		u=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}
			/^deb / { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\// && $i ~ /debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$u" ] && { echo "$u"; return; }
	done
}
uri=$(mirror)
[ -n "$uri" ] || { echo "vmtest: no Debian mirror in this host's apt sources" >&2; exit 1; }

# An apt state of our own for that suite: the host's lists stay as they are.
apt=$WORK/apt/$suite
mkdir -p "$apt/lists/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" > "$apt/sources.list"
opts=(-o "Dir::Etc::SourceList=$PWD/$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$PWD/$apt/lists" -o APT::Sandbox::User=root)
if [ ! -e "$apt/updated" ] || [ -n "$(find "$apt/updated" -mmin +1440)" ]; then
	apt-get "${opts[@]}" -qq update >&2
	touch "$apt/updated"
fi
re="^linux-image-${VERSION//./\\.}[-.+0-9]*(deb[0-9]+)?-amd64-unsigned$"
pkg=$(apt-cache "${opts[@]}" search --names-only "$re" | awk '{print $1}' | grep -E "$re" | sort -V | tail -1)
[ -n "$pkg" ] || { echo "vmtest: no $re package in $suite" >&2; exit 1; }
dir=$WORK/kernel/$pkg
if [ ! -d "$dir/boot" ]; then
	rm -rf "$WORK/kernel/dl-$pkg" && mkdir -p "$WORK/kernel/dl-$pkg"
	(cd "$WORK/kernel/dl-$pkg" && apt-get "${opts[@]}" -qq download "$pkg" >&2)
	dpkg -x "$WORK/kernel/dl-$pkg"/*.deb "$dir"
	rm -rf "$WORK/kernel/dl-$pkg"
fi
ls "$dir"/boot/vmlinuz-*
# Older suites keep modules in /lib, merged-/usr ones (trixie) in /usr/lib.
ls -d "$dir"/lib/modules/* "$dir"/usr/lib/modules/* 2>/dev/null | head -1
