#!/bin/sh
# firmware/optionrom/qemu-check.sh - boot a stock bzImage with OUR option ROM
# under QEMU TCG + SeaBIOS, no /dev/kvm and no vmm needed.
#
# QEMU's -kernel fills fw_cfg (SETUP/KERNEL/INITRD/CMDLINE items, bootorder)
# and loads genroms/linuxboot_dma.bin (linuxboot.bin when fw_cfg DMA is off)
# from the -L directories, first match wins: a directory holding our ROM
# under both names replaces QEMU's. Each mode must print the init marker with
# the command line on the serial port and our ROM's lines on debugcon 0x402.
#
#   sh firmware/optionrom/qemu-check.sh [bzImage]
#   (default $VMM_KERNEL_CACHE/bzImage, else /var/cache/vmm-kernel/bzImage)
# Exit 0 pass, 1 fail, 77 skipped (no QEMU, kernel or busybox).
set -u

ROM=${ROM:-build/optionrom/linuxboot.bin}
KERNEL=${1:-${VMM_KERNEL_CACHE:-/var/cache/vmm-kernel}/bzImage}
QEMU=${QEMU:-qemu-system-x86_64}
TIMEOUT=${TIMEOUT:-180}   # seconds per boot; TCG needs about 8
BUSYBOX=${BUSYBOX:-$(command -v busybox || true)}

skip() { echo "qemu-check: SKIP: $*"; exit 77; }
command -v "$QEMU" >/dev/null 2>&1 || skip "no $QEMU"
[ -r "$KERNEL" ] || skip "no kernel at $KERNEL"
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] || skip "no busybox"
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || skip "busybox is not static"
[ -r "$ROM" ] || { echo "qemu-check: no $ROM (make optionrom)"; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/rd/bin" "$tmp/roms"
cp "$BUSYBOX" "$tmp/rd/bin/busybox"
cat > "$tmp/rd/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
/bin/busybox echo "LINUXBOOT-OK [$(/bin/busybox cat /proc/cmdline)]"
/bin/busybox poweroff -f
EOF
chmod +x "$tmp/rd/init"
(cd "$tmp/rd" && find . | cpio -o -H newc 2>/dev/null | gzip) > "$tmp/initrd.gz" || exit 1
cp "$ROM" "$tmp/roms/linuxboot_dma.bin"
cp "$ROM" "$tmp/roms/linuxboot.bin"

CMDLINE="console=ttyS0 panic=-1 quiet lbcheck=42"
fail=0
for dma in on off; do
	serial=$tmp/serial-$dma.log
	dbg=$tmp/debugcon-$dma.log
	timeout "$TIMEOUT" "$QEMU" -L "$tmp/roms" -L /usr/share/qemu -L /usr/share/seabios \
		-machine q35 -accel tcg -m 512 -nographic -no-reboot \
		-global fw_cfg_io.dma_enabled=$dma \
		-kernel "$KERNEL" -initrd "$tmp/initrd.gz" -append "$CMDLINE" \
		-debugcon "file:$dbg" -global isa-debugcon.iobase=0x402 \
		</dev/null >"$serial" 2>&1
	rc=$?
	ok=1
	grep -aq "LINUXBOOT-OK \[$CMDLINE\]" "$serial" || ok=0
	grep -aq "^linuxboot: jumping to the kernel setup" "$dbg" || ok=0
	if [ $dma = off ]; then
		grep -aq "^linuxboot: fw_cfg has no DMA" "$dbg" || ok=0
	else
		grep -aq "^linuxboot: fw_cfg has no DMA" "$dbg" && ok=0
	fi
	if [ $ok = 1 ]; then
		echo "qemu-check: PASS fw_cfg DMA $dma"
	else
		echo "qemu-check: FAIL fw_cfg DMA $dma (qemu exit $rc)"
		echo "--- debugcon (linuxboot lines)"; grep -a "linuxboot\|option rom" "$dbg"
		echo "--- serial (tail)"; tail -n 20 "$serial"
		fail=1
	fi
done
exit $fail
