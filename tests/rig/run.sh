#!/bin/bash
# tests/rig/run.sh - run a test payload inside the nested rig.
#
#   tests/rig/run.sh [--timeout SECONDS] [--mem 2G] [--smp 1] [--vfio] [--l1-kernel VMLINUX]
#                    PAYLOAD_DIR [LOG]
#
# This machine's own /dev/kvm cannot run a Linux guest, so tests that need one run a level
# deeper: level 0 is QEMU TCG with -cpu max, which gives level 1 nested SVM; level 1 is
# Debian's stock kernel with a busybox initramfs that loads kvm_amd and runs
# PAYLOAD_DIR/run-l1.sh; the payload runs level-2 guests on level 1's /dev/kvm.
# tests/rig/README.md has the payload contract.
#
# --l1-kernel VMLINUX boots that uncompressed vmlinux (PVH) at level 1 instead of Debian's,
# with the same initramfs: such a kernel must have KVM, and with --vfio VT-d and vfio-pci,
# built in (the initramfs holds only Debian's modules; modprobe failing is harmless). E.g.
# the 6.12 kernel with iommufd that tests/rig/iommufd-kernel.sh builds.
#
# Exit status: 0 if the payload exited 0, 1 on any failure (with a one-line reason),
# 2 on bad usage, 77 if qemu-system-x86_64 is not installed, 75 when level 1 itself
# broke (kernel panic, hang, QEMU died): the emulated test bed, worth one more run. A
# hang is an RCU stall report from level 1, or RIG_SILENCE seconds (default 420) without
# output from it.
set -euo pipefail
export LC_ALL=C # $EPOCHREALTIME with a decimal point, byte-order sort

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SELF=$ROOT/tests/rig/run.sh
CACHE=${VMM_RIG_CACHE:-/var/cache/vmm-rig}

# What goes into level 1's initramfs beyond busybox. kvm_intel is there so the same
# initramfs works if level 0 ever offers VMX; vfio* are for passthrough tests; tun lets a
# payload give a level-2 guest a tap device.
L1_MODULES="kvm kvm_amd kvm_intel vfio vfio_pci vfio_iommu_type1 tun"
# The level-2 (cloud) kernel's virtio drivers, loaded by the level-2 init.
L2_MODULES="virtio_pci virtio_blk virtio_net virtio_console virtio_rng"

# Level-1 kernel command line:
# - quiet: every console byte is an emulated UART access; errors still show, and a
#   payload can run dmesg;
# - panic=-1 with -no-reboot: a panic ends QEMU at once instead of hanging to the timeout;
# - the rest only shortens boot under TCG, together about 0.6 s of 4 (measured): no
#   speculation workarounds, no TSC watchdog or timer check (TCG's clock is uneven
#   anyway), no entropy wait, no PS/2 probing, no audit or AppArmor setup.
L1_APPEND=(console=ttyS0 quiet panic=-1 mitigations=off tsc=reliable no_timer_check
	random.trust_cpu=on i8042.noaux i8042.nokbd i8042.nopnp audit=0 apparmor=0)

# One level-1 vCPU by default. With two, the TCG-emulated level 1 hung (a CPU stalled
# with interrupts off, RCU stall reports) within a few dozen to a few hundred VM runs
# (2026-11-23: 2 of 3 runs of up to 450 hello.bin boots, 3 of 5 boot benchmarks). With
# one: 1,650 hello.bin boots in a row without a hang, each a third faster, and one hang
# in about 80 Linux boots. Rarer, not gone: rig() still runs a broken level 1 again.
# Level-2 SMP guests still run, their vCPU threads taking turns.
TIMEOUT=900 MEM=2G SMP=1 VFIO=0 L1_KERNEL=
SILENCE=${RIG_SILENCE:-420}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF" >&2
	exit 2
}

while (($#)); do
	case $1 in
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--timeout=*) TIMEOUT=${1#*=}; shift ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--mem=*) MEM=${1#*=}; shift ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--smp=*) SMP=${1#*=}; shift ;;
	--vfio) VFIO=1; shift ;;
	--l1-kernel) L1_KERNEL=${2:?}; shift 2 ;;
	--l1-kernel=*) L1_KERNEL=${1#*=}; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) echo "rig: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
(($# >= 1 && $# <= 2)) || usage
[[ $TIMEOUT =~ ^[0-9]+$ && $SMP =~ ^[0-9]+$ ]] || usage
PAYLOAD=$1
LOG=${2:-$ROOT/build/rig/rig.log}
[[ -d $PAYLOAD ]] || { echo "rig: payload directory $PAYLOAD not found" >&2; exit 2; }
if [[ -n $L1_KERNEL ]]; then
	# An ELF (not a bzImage): QEMU boots it through its PVH entry note.
	[[ -f $L1_KERNEL && $(head -c4 "$L1_KERNEL") == $'\x7fELF' ]] ||
		{ echo "rig: --l1-kernel $L1_KERNEL is not an uncompressed vmlinux (ELF)" >&2; exit 2; }
	L1_KERNEL=$(realpath "$L1_KERNEL")
fi

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "################################################################"
	echo "SKIP: rig: qemu-system-x86_64 not installed"
	echo "      (apt-get install qemu-system-x86) - NO nested test ran"
	echo "################################################################"
	exit 77
fi

T_START=$EPOCHREALTIME
DEADLINE=$((${T_START%.*} + TIMEOUT))

mkdir -p "$(dirname "$LOG")"
: >"$LOG"
say() { printf 'rig: %s\n' "$*" | tee -a "$LOG"; }
die() { say "FAIL: $*"; exit 1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Every step that can hang (apt, qemu) gets what is left of the one overall budget.
bounded() {
	local left=$((DEADLINE - ${EPOCHREALTIME%.*}))
	((left > 0)) || die "timeout after ${TIMEOUT}s (while preparing)"
	timeout --kill-after=10 "$left" "$@"
}

W=$(mktemp -d "${TMPDIR:-/tmp}/vmm-rig.XXXXXX")
QPID=
cleanup() {
	# timeout(1) puts itself in its own process group, so a ^C never reaches QEMU.
	[[ -z $QPID ]] || kill "$QPID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

#------------------------------------------------------------------------------------------
# Packages
#------------------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
# As root, apt would otherwise warn that its _apt sandbox user cannot write the cache dir.
APT_OPTS=(-q -o APT::Sandbox::User=root)

# Which versions to use: the kernel packages that linux-image-amd64 and
# linux-image-cloud-amd64 pull in (linux-image-6.1.0-NN-amd64...) and the candidate
# versions of those and busybox-static. apt-cache parses all the lists on each call here
# (the image has no pkgcache.bin), about 1 s a call, so the answer is kept, keyed on the
# lists and sources it came from.
resolve_packages() {
	local stamp file=$CACHE/resolved
	stamp=$(stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* /etc/apt/sources.list* \
		/etc/apt/sources.list.d/* /etc/apt/preferences* 2>/dev/null | sha256sum | cut -c1-16)
	if [[ -f $file && $(head -1 "$file") == "$stamp" ]]; then
		read -r L1_PKG L1_VER L2_PKG L2_VER BB_VER < <(tail -1 "$file")
		return
	fi
	read -r L1_PKG L2_PKG < <(apt-cache depends linux-image-amd64 linux-image-cloud-amd64 \
		2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { printf "%s ", $2 }
		END { print "" }')
	[[ -n $L1_PKG && -n $L2_PKG ]] || return 1
	read -r L1_VER L2_VER BB_VER < <(apt-cache policy "$L1_PKG" "$L2_PKG" busybox-static \
		2>/dev/null | awk '$1 == "Candidate:" { printf "%s ", $2 } END { print "" }')
	[[ -n $BB_VER && $L1_VER$L2_VER$BB_VER != *none* ]] || return 1
	printf '%s\n%s %s %s %s %s\n' "$stamp" "$L1_PKG" "$L1_VER" "$L2_PKG" "$L2_VER" "$BB_VER" >"$file"
}

# Set DEB to the path of PKG=VER's .deb in the cache, downloading it first if needed.
fetch_deb() {
	local pkg=$1 ver=$2 f tmp
	# apt-get download names files pkg_version_arch.deb with the epoch colon as %3a.
	for f in "$CACHE/debs/${pkg}_${ver//:/%3a}_"*.deb; do
		[[ -f $f ]] && { DEB=$f; return; }
	done
	# Into a private directory first, so an interrupted download never looks cached.
	tmp=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
	(cd "$tmp" && bounded apt-get "${APT_OPTS[@]}" download "$pkg=$ver") ||
		{ rm -rf "$tmp"; die "apt-get download $pkg=$ver failed"; }
	for f in "$tmp"/*.deb; do
		mv "$f" "$CACHE/debs/"
		DEB=$CACHE/debs/${f##*/}
	done
	rmdir "$tmp"
}

#------------------------------------------------------------------------------------------
# Kernel images
#------------------------------------------------------------------------------------------
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# bzImage -> uncompressed vmlinux, which QEMU (and our vmm) boot through PVH. That skips
# the in-guest decompression, about 6 s under TCG. The x86 boot protocol header gives
# setup_sects at 0x1f1 and payload_offset/payload_length at 0x248/0x24c, counted from
# the protected-mode code at (setup_sects+1)*512. The payload's last 4 bytes are the
# uncompressed size: appended by the kernel build for xz, lz4, zstd..., gzip's own ISIZE.
extract_vmlinux() {
	local bz=$1 out=$2 sects off len size magic
	local -a unpack
	[[ $(od -An -c -j $((0x202)) -N4 "$bz" | tr -d ' ') == HdrS ]] ||
		die "$bz is not a bzImage"
	sects=$(u8 "$bz" $((0x1f1)))
	((sects)) || sects=4
	off=$(((sects + 1) * 512 + $(u32 "$bz" $((0x248)))))
	len=$(u32 "$bz" $((0x24c)))
	size=$(u32 "$bz" $((off + len - 4)))
	magic=$(od -An -tx1 -j "$off" -N6 "$bz" | tr -d ' \n')
	case $magic in
	fd377a585a00) unpack=(xz -dc) ;;
	28b52ffd*) unpack=(zstd -dcq) ;;
	02214c18*) unpack=(lz4 -dc) ;;
	1f8b*) unpack=(gzip -dc) len=$((len + 4)) ;; # the size is gzip's own trailer
	425a68*) unpack=(bzip2 -dc) ;;
	5d0000*) unpack=(xz -dc --format=lzma) ;;
	*) die "$bz: unknown kernel compression (magic $magic)" ;;
	esac
	dd if="$bz" bs=64K iflag=skip_bytes,count_bytes skip="$off" count=$((len - 4)) \
		status=none | "${unpack[@]}" >"$out" || die "$bz: ${unpack[0]} failed"
	[[ $(head -c4 "$out") == $'\x7fELF' ]] || die "$bz: payload is not an ELF"
	(($(stat -c %s "$out") == size)) || die "$bz: vmlinux size is not the recorded $size"
}

#------------------------------------------------------------------------------------------
# Initramfs pieces
#------------------------------------------------------------------------------------------
# newc archive of directory $1 on stdout, owned by root, in a stable order.
cpio_of() {
	(cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet)
}

# The kernel only looks for an uncompressed archive at a 4-byte aligned offset, and
# skips zeros between archives: pad every piece so they concatenate in any order.
pad4() { local n; n=$(stat -c %s "$1"); head -c $(((4 - n % 4) % 4)) /dev/zero >>"$1"; }

# A busybox root: /bin/busybox plus one symlink per applet, and the usual paths
# pointing at /bin so payload scripts may use /usr/bin/env, /sbin/modprobe etc.
busybox_root() {
	local r=$1 a
	mkdir -p "$r"/{bin,dev,proc,sys,tmp,run,usr}
	install -m 755 "$BB" "$r/bin/busybox"
	for a in $("$BB" --list); do
		[[ $a == busybox ]] || ln -s busybox "$r/bin/$a"
	done
	ln -s bin "$r/sbin"
	ln -s ../bin "$r/usr/bin"
	ln -s ../bin "$r/usr/sbin"
}

# Copy module $1 and, recursively, everything its modinfo depends= names, decompressed
# (busybox modprobe cannot read compressed modules).
declare -A MOD_PATH MOD_DONE
add_module() {
	local name=${1//-/_} src rel dst dep
	[[ -z ${MOD_DONE[$name]:-} ]] || return 0
	MOD_DONE[$name]=1
	src=${MOD_PATH[$name]:-}
	if [[ -z $src ]]; then
		grep -Eq "/${name//_/[-_]}\.ko$" "$KMOD/modules.builtin" ||
			die "module $name is neither in $L1_PKG nor built in"
		return 0
	fi
	rel=${src#"$KMOD"/}
	rel=${rel%.xz} rel=${rel%.zst} rel=${rel%.gz}
	dst=$L1ROOT/lib/modules/$KV/$rel
	mkdir -p "${dst%/*}"
	case $src in
	*.xz) xz -dc "$src" ;;
	*.zst) zstd -dcq "$src" ;;
	*.gz) gzip -dc "$src" ;;
	*) cat "$src" ;;
	esac >"$dst"
	for dep in $(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$dep"
	done
}

write_l1_init() {
	cat >"$1" <<'EOF'
#!/bin/sh
# Level-1 init (written by tests/rig/run.sh): bring up /dev/kvm, run the payload,
# report, power off. Nothing else runs: no getty, no udev (devtmpfs is enough).
export PATH=/bin HOME=/ TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
echo "RIG-L1 kernel $(uname -r) uptime $(cut -d' ' -f1 /proc/uptime) s"
ip link set lo up
modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
if [ -c /dev/kvm ]; then
	echo "RIG-KVM ok"
else
	echo "RIG-KVM missing"
	echo "RIG-NOTE virtualization flags: $(grep -m1 -o -w -E 'svm|vmx' /proc/cpuinfo || echo none)"
	dmesg | grep -i -E 'kvm|svm|vmx' | tail -5
fi
rc=0
if [ -f /payload/run-l1.sh ]; then
	cd /payload && sh ./run-l1.sh </dev/null
	rc=$?
	cd /
else
	echo "RIG-NOTE no /payload/run-l1.sh"
fi
echo "RIG-DONE rc=$rc"
poweroff -f
EOF
	chmod 755 "$1"
}

write_l2_init() {
	cat >"$1" <<'EOF'
#!/bin/sh
# Level-2 init (written by tests/rig/run.sh): prove userspace runs, then power off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "L2-INIT-OK nproc=$(nproc)"
# bench/boot.sh: the marker, then power off at once (no device checks, no sleeps)
grep -q 'l2-boot-bench' /proc/cmdline && poweroff -f
echo "L2-CPUS $(grep -c ^processor /proc/cpuinfo)"
echo "L2-NODES $(ls -d /sys/devices/system/node/node* 2>/dev/null | wc -l)"
# setup_data the boot loader handed over (type, md5 of the payload), e.g. SETUP_DTB
for d in /sys/kernel/boot_params/setup_data/*; do
	[ -e "$d/type" ] && echo "L2-SETUP-DATA $(cat $d/type) $(md5sum <$d/data | cut -d' ' -f1)"
done
[ -d /sys/firmware/acpi/tables ] && echo "L2-ACPI $(ls /sys/firmware/acpi/tables | tr '\n' ' ')"
# virtio devices the VMM was given (tests/rig/payload/run-l1.sh checks the lines)
if [ -d /lib/modules/$(uname -r) ]; then
	for m in virtio_pci virtio_blk virtio_net virtio_console virtio_rng e1000e; do
		modprobe $m 2>/dev/null
	done
	sleep 1
fi
if [ -b /dev/vda ] && grep -q 'l2-dd-bench' /proc/cmdline; then
	# bench/dd.sh: sequential read throughput of the whole disk, 1 MiB requests
	# busybox dd prints no rate: the guest's uptime (1/100 s) around each run;
	# the queue limits the driver took from the device, the disk's stat after the read
	q=/sys/block/vda/queue
	echo "L2-DD-QUEUE max_sectors_kb=$(cat $q/max_sectors_kb) max_hw_sectors_kb=$(cat $q/max_hw_sectors_kb) max_segments=$(cat $q/max_segments) max_segment_size=$(cat $q/max_segment_size) nr_requests=$(cat $q/nr_requests) read_ahead_kb=$(cat $q/read_ahead_kb) scheduler=$(cat $q/scheduler | tr ' ' ,) mq=$(ls /sys/block/vda/mq | wc -l)"
	echo 3 >/proc/sys/vm/drop_caches
	read t0 x </proc/uptime
	dd if=/dev/vda of=/dev/null bs=1M 2>/dev/null
	read t1 x </proc/uptime
	echo "L2-DD-READ bytes=$(cat /sys/block/vda/size)x512 start=$t0 end=$t1"
	echo "L2-DD-STAT $(cat /sys/block/vda/stat)"
	read t0 x </proc/uptime
	dd if=/dev/zero of=/dev/vda bs=1M count=128 conv=fsync 2>/dev/null
	read t1 x </proc/uptime
	echo "L2-DD-WRITE bytes=134217728x1 start=$t0 end=$t1"
elif [ -b /dev/vda ]; then
	echo "L2-VDA-READ $(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 16)"
	printf 'GUEST-WROTE-THIS' | dd of=/dev/vda bs=512 seek=1 conv=notrunc,fsync 2>/dev/null &&
		echo "L2-VDA-WRITE-OK"
fi
if [ -b /dev/vdb ]; then
	if printf 'X' | dd of=/dev/vdb bs=512 seek=1 conv=notrunc,fsync 2>/dev/null; then
		echo "L2-VDB-RO-WRITABLE"
	else
		echo "L2-VDB-RO-REFUSED"
	fi
fi
if [ -c /dev/hwrng ]; then
	echo "L2-HWRNG $(cat /sys/class/misc/hw_random/rng_current) $(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')"
fi
if [ -d /sys/class/virtio-ports ] || grep -q virtio_console /proc/modules; then
	sleep 1
	if [ -c /dev/hvc0 ]; then
		if read -t 30 line </dev/hvc0; then
			echo "L2-CONSOLE-GOT $line"
			echo "pong:$line" >/dev/hvc0
		else
			echo "L2-CONSOLE-TIMEOUT"
		fi
	else
		echo "L2-CONSOLE-NODEV $(ls /dev | grep -E 'hvc|vport' | tr '\n' ' ')"
	fi
fi
if [ -d /sys/class/net/eth0 ]; then
	ip link set eth0 up && ip addr add 10.0.2.2/24 dev eth0
	ping -c 3 -W 3 10.0.2.1 >/dev/null 2>&1 && echo "L2-PING-OK"
	sleep 5
fi
# Power off through ACPI (the VMM's S5 sleep register); without ACPI (acpi=off),
# reset through the keyboard controller (reboot=k). Either makes vmm exit 0.
if grep -q 'acpi=off' /proc/cmdline; then
	reboot -f
fi
poweroff -f
EOF
	chmod 755 "$1"
}

# make_boot_disk IMG KERNEL INITRD: a BIOS-bootable raw disk for SeaBIOS on virtio-blk: an
# MBR (syslinux's mbr.bin), one active partition with ext2 and Debian's extlinux, the
# kernel, the initrd and an extlinux.conf. Needs root, loop devices, mount, extlinux,
# sfdisk; without them there is no disk and the rig test that boots it skips loudly.
make_boot_disk() {
	local img=$1 kernel=$2 initrd=$3 mnt=$W/bootmnt loop
	if ! command -v extlinux >/dev/null || ! command -v sfdisk >/dev/null ||
		[[ ! -f /usr/lib/syslinux/mbr/mbr.bin ]]; then
		say "warning: no extlinux/sfdisk/syslinux mbr.bin: no boot disk (make deps installs them)"
		return 0
	fi
	rm -f "$img"
	truncate -s 32M "$img"
	printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$img" >/dev/null
	dd if=/usr/lib/syslinux/mbr/mbr.bin of="$img" bs=440 count=1 conv=notrunc 2>/dev/null
	if ! loop=$(losetup -f --show -o $((2048 * 512)) "$img" 2>/dev/null); then
		say "warning: no loop device: no boot disk"
		rm -f "$img"
		return 0
	fi
	mkdir -p "$mnt"
	if mke2fs -q -t ext2 "$loop" && mount "$loop" "$mnt" 2>/dev/null; then
		extlinux --install "$mnt" >/dev/null 2>&1
		cp "$kernel" "$mnt/vmlinuz"
		cp "$initrd" "$mnt/initrd.gz"
		cat >"$mnt/extlinux.conf" <<-EOF
			DEFAULT linux
			TIMEOUT 0
			LABEL linux
			  KERNEL /vmlinuz
			  INITRD /initrd.gz
			  APPEND console=ttyS0 panic=-1 quiet-marker-seabios-extlinux
		EOF
		umount "$mnt"
	else
		say "warning: cannot make or mount the boot disk's filesystem: no boot disk"
		rm -f "$img"
	fi
	losetup -d "$loop"
}

# Build everything that does not depend on the payload into $1: the level-1 vmlinux and
# initrd-base, a concatenation of
#   base.cpio.gz - busybox, /init, the modules, /l2/initrd.cpio.gz;
#   l2.cpio      - /l2/vmlinux and /l2/bzImage, left uncompressed: they are most of the
#                  bytes, and decompressing 60 MB in level 1 under TCG costs seconds,
#                  while QEMU loads the raw bytes for free.
build_assets() {
	local out=$1 t=$W/build l1deb l2deb bbdeb f m
	fetch_deb "$L1_PKG" "$L1_VER"
	l1deb=$DEB
	fetch_deb "$L2_PKG" "$L2_VER"
	l2deb=$DEB
	fetch_deb busybox-static "$BB_VER"
	bbdeb=$DEB
	mkdir -p "$t"/{l1deb,l2deb,bbdeb}
	dpkg-deb -x "$l1deb" "$t/l1deb"
	dpkg-deb -x "$l2deb" "$t/l2deb"
	dpkg-deb -x "$bbdeb" "$t/bbdeb"
	BB=$t/bbdeb/bin/busybox
	[[ -x $BB ]] || die "no bin/busybox in $bbdeb"

	mkdir -p "$out"
	extract_vmlinux "$(echo "$t"/l1deb/boot/vmlinuz-*)" "$out/vmlinux"

	# Level-2 assets.
	local l2=$t/l2root/l2
	mkdir -p "$l2"
	cp "$t"/l2deb/boot/vmlinuz-* "$l2/bzImage"
	extract_vmlinux "$l2/bzImage" "$l2/vmlinux"
	# The generic stock kernel too: the cloud kernel is built without
	# CONFIG_X86_MPPARSE, so it finds secondary CPUs only through ACPI's MADT.
	cp "$out/vmlinux" "$l2/stock-vmlinux"
	cp "$t"/l1deb/boot/vmlinuz-* "$l2/stock-bzImage"
	local l2init=$t/l2init
	busybox_root "$l2init"
	write_l2_init "$l2init/init"
	# Modules for the device tests at level 2: the cloud kernel's virtio drivers, and
	# e1000e for the generic stock kernel (the cloud kernel has no e1000e), which boots
	# with a passed-through e1000e in the VFIO rig.
	L1ROOT=$l2init
	for kdir in "$t"/l2deb/lib/modules/* "$t"/l1deb/lib/modules/*; do
		KMOD=$kdir
		KV=${KMOD##*/}
		MOD_PATH=() MOD_DONE=()
		while IFS= read -r -d '' f; do
			m=${f##*/}
			m=${m%%.ko*}
			MOD_PATH[${m//-/_}]=$f
		done < <(find "$KMOD/kernel" -name '*.ko*' -print0)
		if [[ $kdir == */l2deb/* ]]; then
			for m in $L2_MODULES; do add_module "$m"; done
		else
			add_module e1000e
		fi
		cp "$KMOD"/modules.builtin* "$KMOD/modules.order" "$l2init/lib/modules/$KV/"
		"$BB" depmod -b "$l2init" "$KV"
	done
	MOD_PATH=() MOD_DONE=()

	# Level-1 root.
	L1ROOT=$t/l1root
	busybox_root "$L1ROOT"
	write_l1_init "$L1ROOT/init"
	mkdir -p "$L1ROOT/l2" "$L1ROOT/payload"
	cpio_of "$l2init" | gzip -9 >"$L1ROOT/l2/initrd.cpio.gz"
	make_boot_disk "$l2/bootdisk.img" "$l2/bzImage" "$L1ROOT/l2/initrd.cpio.gz"

	KMOD=$(echo "$t"/l1deb/lib/modules/*)
	KV=${KMOD##*/}
	while IFS= read -r -d '' f; do
		m=${f##*/}
		m=${m%%.ko*}
		MOD_PATH[${m//-/_}]=$f
	done < <(find "$KMOD/kernel" -name '*.ko*' -print0)
	for m in $L1_MODULES; do add_module "$m"; done
	cp "$KMOD"/modules.builtin* "$KMOD/modules.order" "$L1ROOT/lib/modules/$KV/"
	"$BB" depmod -b "$L1ROOT" "$KV"

	cpio_of "$L1ROOT" | gzip -6 >"$out/initrd-base"
	pad4 "$out/initrd-base"
	cpio_of "$t/l2root" >>"$out/initrd-base"
	pad4 "$out/initrd-base"

	cat >"$out/versions" <<-EOF
		L1 $L1_PKG $L1_VER ($KV)
		L2 $L2_PKG $L2_VER
		busybox-static $BB_VER
	EOF
	rm -rf "$t"
}

# Drop what no current rig uses: superseded debs and asset sets, and leftovers of
# interrupted runs.
prune_cache() {
	local keep=$1 f
	for f in "$CACHE"/assets-* "$CACHE"/debs/.dl.*; do
		[[ $f == "$keep" || ! -e $f ]] || rm -rf "$f"
	done
	for f in "$CACHE"/debs/*.deb; do
		case ${f##*/} in
		"${L1_PKG}_${L1_VER//:/%3a}_"* | "${L2_PKG}_${L2_VER//:/%3a}_"* | \
			"busybox-static_${BB_VER//:/%3a}_"*) ;;
		*) rm -f "$f" ;;
		esac
	done
}

#------------------------------------------------------------------------------------------
# Prepare (cached across runs; serialized so parallel runs share one cache safely)
#------------------------------------------------------------------------------------------
mkdir -p "$CACHE/debs" || die "cannot create the cache $CACHE (set VMM_RIG_CACHE)"
exec 9>"$CACHE/lock"
bounded flock 9 || die "timeout waiting for the cache lock $CACHE/lock"

if ! resolve_packages; then
	say "apt lists lack the kernel packages; running apt-get update"
	if ! { bounded apt-get "${APT_OPTS[@]}" update >/dev/null && resolve_packages; }; then
		# Without apt, a warm cache still works: use what it was last built from.
		[[ -f $CACHE/resolved ]] ||
			die "cannot resolve linux-image-amd64, linux-image-cloud-amd64, busybox-static"
		say "warning: apt cannot resolve the packages; using the cached versions"
		read -r L1_PKG L1_VER L2_PKG L2_VER BB_VER < <(tail -1 "$CACHE/resolved")
	fi
fi

# The assets depend on this script (init scripts, module list, layout) and the versions.
KEY=$({ cat "$SELF"; echo "$L1_PKG $L1_VER $L2_PKG $L2_VER $BB_VER"; } | sha256sum | cut -c1-16)
ASSETS=$CACHE/assets-$KEY
if [[ ! -f $ASSETS/done ]]; then
	say "building level-1/level-2 assets into $ASSETS (cold cache)"
	rm -rf "$ASSETS" "$ASSETS.tmp"
	build_assets "$ASSETS.tmp"
	touch "$ASSETS.tmp/done"
	mv "$ASSETS.tmp" "$ASSETS"
	prune_cache "$ASSETS"
fi
exec 9>&-
while read -r line; do say "$line"; done <"$ASSETS/versions"
[[ -z $L1_KERNEL ]] || say "L1 kernel replaced by --l1-kernel $L1_KERNEL"

# The payload is the last archive, so it can also override anything in the base.
mkdir -p "$W/payroot/payload"
# -L: a symlink out of the payload would dangle in level 1.
cp -rL "$PAYLOAD/." "$W/payroot/payload/" || die "cannot copy the payload $PAYLOAD"
[[ -f $PAYLOAD/run-l1.sh ]] || say "warning: $PAYLOAD has no run-l1.sh; level 1 only boots"
cp "$ASSETS/initrd-base" "$W/initrd"
cpio_of "$W/payroot" | gzip -1 >>"$W/initrd"

#------------------------------------------------------------------------------------------
# Level 0
#------------------------------------------------------------------------------------------
# -nodefaults: no VGA, NIC, CD-ROM for level 1 to probe; the serial port is the only
# console and the only output.
# phys-bits=48: level 1 must hold guests above 1 TiB (QEMU's TCG default is 40).
QEMU=(qemu-system-x86_64 -machine q35 -accel tcg -cpu max,phys-bits=48 -m "$MEM" -smp "$SMP"
	-nodefaults -no-user-config -display none -serial stdio -no-reboot
	-kernel "${L1_KERNEL:-$ASSETS/vmlinux}" -initrd "$W/initrd")
APPEND="${L1_APPEND[*]}"
if ((VFIO)); then
	# An emulated VT-d, which vfio's type1 backend needs, and two devices to pass through.
	# Interrupt remapping wants a split irqchip; caching-mode lets nested mappings work.
	# The e1000e's backend is a unix datagram socket to nowhere: a NIC without one makes
	# QEMU warn, and the rig must not reach any network.
	QEMU[2]=q35,kernel-irqchip=split
	# shellcheck disable=SC2054 # the commas are QEMU's, inside one argument
	QEMU+=(-device intel-iommu,intremap=on,caching-mode=on -device edu
		-netdev "dgram,id=nic0,local.type=unix,local.path=$W/nic.sock,remote.type=unix,remote.path=$W/nowhere.sock"
		-device e1000e,netdev=nic0)
	APPEND+=" intel_iommu=on"
fi
QEMU+=(-append "$APPEND")

T_QEMU=$EPOCHREALTIME
say "prepare $(secs "$T_START" "$T_QEMU") s; booting level 1 (log: $LOG)"
left=$((DEADLINE - ${EPOCHREALTIME%.*}))
((left > 0)) || die "timeout after ${TIMEOUT}s (while preparing)"
mkfifo "$W/serial"
timeout --kill-after=10 "$left" "${QEMU[@]}" >"$W/serial" 2>&1 </dev/null &
QPID=$!

T_KVM='' KVM='' DONE_RC='' PANIC='' SILENT='' STALL=''
serial_line() {
	local line=${1%$'\r'}
	printf '%s\n' "$line"
	printf '%s\n' "$line" >>"$LOG"
	case $line in
	*"RIG-KVM ok"*) KVM=ok T_KVM=$EPOCHREALTIME ;;
	*"RIG-KVM missing"*) KVM=missing T_KVM=$EPOCHREALTIME ;;
	*"Kernel panic"*) PANIC=1 ;;
	# a level-1 CPU stuck (seen under TCG: it prints this every minute and never recovers)
	*"rcu: INFO: rcu_preempt detected stalls"* | *"rcu: INFO: rcu_sched detected stalls"* | \
		*"self-detected stall on CPU"*) STALL=1 ;;
	esac
	if [[ $line =~ RIG-DONE\ rc=([0-9]+) ]]; then DONE_RC=${BASH_REMATCH[1]}; fi
}
# A wedged level 1 (emulated CPUs busy, nothing printed but RCU stall reports: seen now and
# then under TCG) is cut off at its first RCU stall report, or after SILENCE seconds without
# a byte of output, well before TIMEOUT. No payload step is that quiet: each prints when it
# ends and has its own, shorter timeout.
partial=''
while :; do
	line=''
	IFS= read -r -t "$SILENCE" line && rc=0 || rc=$?
	if ((rc == 0)); then
		serial_line "$partial$line"
		partial=''
		[[ -z $STALL ]] && continue
		say "level 1 reports a stalled CPU (RCU): it hung; stopping QEMU"
		kill "$QPID" 2>/dev/null || true
		break
	fi
	if ((rc > 128)); then
		partial+=$line
		[[ -n $line ]] && continue
		SILENT=1
		say "no output from level 1 for ${SILENCE}s: it hung; stopping QEMU"
		kill "$QPID" 2>/dev/null || true
		break
	fi
	[[ -n $partial$line ]] && serial_line "$partial$line"
	break
done <"$W/serial"
QRC=0
wait "$QPID" || QRC=$?
QPID=
T_END=$EPOCHREALTIME

BOOT=never PAY=-
[[ -z $T_KVM ]] || BOOT="$(secs "$T_QEMU" "$T_KVM") s" PAY="$(secs "$T_KVM" "$T_END") s"
say "timings: prepare $(secs "$T_START" "$T_QEMU") s, L1 boot to RIG-KVM $BOOT," \
	"payload and power-off $PAY, total $(secs "$T_START" "$T_END") s"

# Level 1 itself breaking (a panic, a hang, QEMU dying) is the emulated test bed's
# failure, not the payload's: exit 75 (EX_TEMPFAIL) so a caller may run it once more.
if [[ -n $SILENT || -n $STALL ]]; then
	say "FAIL: level 1 hung ($([[ -n $KVM ]] && echo "in the payload" || echo "before level 1 was up"))"
	exit 75
elif ((QRC == 124 || QRC == 137)); then
	say "FAIL: timeout after ${TIMEOUT}s ($([[ -n $KVM ]] && echo "in the payload" || echo "before level 1 was up"))"
	exit 75
elif [[ $KVM == missing ]]; then
	die "kvm missing: level 1 has no /dev/kvm (payload rc=${DONE_RC:-none})"
elif [[ -z $DONE_RC ]]; then
	say "FAIL: level 1 stopped without RIG-DONE ($([[ -n $PANIC ]] && echo "kernel panic" || echo "qemu exit status $QRC"))"
	exit 75
elif ((DONE_RC != 0)); then
	die "payload failure: run-l1.sh exited $DONE_RC"
fi
say "PASS: payload exited 0"
