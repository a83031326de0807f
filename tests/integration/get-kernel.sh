#!/bin/bash
# tests/integration/get-kernel.sh - fetch Debian's cloud kernel for the boot
# tests: $cache/bzImage (the 64-bit boot protocol) and $cache/vmlinux (the
# ELF inside it, booted through PVH). Idempotent: a filled cache is reused.
#   VMM_KERNEL_CACHE  where to keep them (default /var/cache/vmm-kernel)
# Prints the two paths on success.
set -euo pipefail

cache=${VMM_KERNEL_CACHE:-/var/cache/vmm-kernel}
meta=linux-image-cloud-amd64

die() { echo "get-kernel: $*" >&2; exit 1; }

if [ -s "$cache/bzImage" ] && [ -s "$cache/vmlinux" ]; then
	echo "$cache/bzImage"
	echo "$cache/vmlinux"
	exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The metapackage only depends on the versioned image package: fetch that one.
versioned() {
	apt-cache depends "$meta" 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
pkg=$(versioned || true)
if [ -z "$pkg" ]; then
	apt-get update -qq >/dev/null
	pkg=$(versioned || true)
fi
[ -n "$pkg" ] || die "cannot resolve the package $meta depends on"

mkdir "$tmp/dl"
# apt fetches as its own user when it can write the target directory.
if id _apt >/dev/null 2>&1; then chmod 755 "$tmp"; chown _apt "$tmp/dl"; fi
(cd "$tmp/dl" && apt-get download -qq "$pkg") || die "apt-get download $pkg failed"
dpkg-deb -x "$tmp"/dl/*.deb "$tmp/root"
vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$vmlinuz" ] || die "$pkg ships no /boot/vmlinuz-*"

# Little-endian fields of the setup header (Documentation/arch/x86/boot.rst).
u8()  { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
[ "$(head -c $((0x206)) "$vmlinuz" | tail -c 4)" = "HdrS" ] || die "$vmlinuz is not a bzImage"
setup_sects=$(u8 "$vmlinuz" $((0x1f1)))
[ "$setup_sects" -eq 0 ] && setup_sects=4
payload_offset=$(u32 "$vmlinuz" $((0x248)))
payload_length=$(u32 "$vmlinuz" $((0x24c)))
start=$(( (setup_sects + 1) * 512 + payload_offset ))
dd if="$vmlinuz" of="$tmp/payload" bs=1M iflag=skip_bytes,count_bytes \
	skip="$start" count="$payload_length" status=none

magic=$(od -An -tx1 -N6 "$tmp/payload" | tr -d ' \n')
case "$magic" in
02214c18*) dec="lz4 -dc" ;;   # LZ4 legacy frame
fd377a585a00) dec="xz -dc" ;;
28b52ffd*) dec="zstd -dcq" ;;
1f8b*) dec="gzip -dc" ;;
*) die "unknown payload compression (magic $magic)" ;;
esac
# The kernel appends the decompressed size after the stream, which some
# decompressors report as trailing garbage: judge by the output instead.
$dec <"$tmp/payload" >"$tmp/vmlinux" 2>"$tmp/dec.log" || true
[ "$(head -c 4 "$tmp/vmlinux" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ] ||
	die "decompressing the payload ($dec) gave no ELF: $(head -c 200 "$tmp/dec.log")"

cp "$vmlinuz" "$cache/bzImage.tmp" && mv "$cache/bzImage.tmp" "$cache/bzImage"
cp "$tmp/vmlinux" "$cache/vmlinux.tmp" && mv "$cache/vmlinux.tmp" "$cache/vmlinux"
echo "$cache/bzImage"
echo "$cache/vmlinux"
