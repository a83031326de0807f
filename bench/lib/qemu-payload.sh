#!/bin/bash
# bench/lib/qemu-payload.sh DIR - copy Debian's qemu-system-x86_64 with its shared
# libraries, its dynamic loader and the firmware files a KVM run needs into
# DIR, so that level 1 of the rig (a busybox initramfs with no libraries) can
# run QEMU as the peer of vmm in the same run. DIR/qemu is the entry point:
#   DIR/qemu [QEMU ARGS...]   (adds -L DIR/share)
# Needs: qemu-system-x86 and seabios (make deps installs both).
set -euo pipefail
d=${1:?usage: qemu-payload.sh DIR}
q=$(command -v qemu-system-x86_64) || { echo "qemu-payload: qemu-system-x86_64 not installed" >&2; exit 77; }
mkdir -p "$d/lib" "$d/share"
cp -L "$q" "$d/qemu-system-x86_64"
ldd "$q" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
	cp -L "$lib" "$d/lib/"
done
loader=$(ldd "$q" | awk '/ld-linux/ { print ($3 ~ /^\// ? $3 : $1) }' | head -n 1)
cp -L "$loader" "$d/lib/ld-linux.so"
for f in /usr/share/seabios/bios-256k.bin /usr/share/seabios/bios.bin \
	/usr/share/qemu/kvmvapic.bin /usr/share/qemu/linuxboot_dma.bin \
	/usr/share/qemu/bios-microvm.bin /usr/share/qemu/pvh.bin; do
	[ -e "$f" ] && cp -L "$f" "$d/share/"
done
cat >"$d/qemu" <<'EOS'
#!/bin/sh
d=$(dirname "$0")
exec "$d/lib/ld-linux.so" --library-path "$d/lib" "$d/qemu-system-x86_64" -L "$d/share" "$@"
EOS
chmod +x "$d/qemu"
