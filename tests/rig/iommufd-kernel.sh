#!/bin/bash
# tests/rig/iommufd-kernel.sh - a Linux 6.12 vmlinux with iommufd and the VFIO cdev, built once.
#
#   tests/rig/iommufd-kernel.sh [--config FILE]
#
# No Debian kernel enables CONFIG_IOMMUFD with CONFIG_VFIO_DEVICE_CDEV, so the iommufd rig
# (tests/rig/check-iommufd.sh) boots this kernel at level 1 instead of Debian's. It is Debian's
# linux-source-6.12 built with the small config at the end of this script: everything built
# in (no modules, no network), PVH, KVM AMD and Intel, VT-d and AMD-Vi with interrupt
# remapping, IOMMUFD, VFIO PCI with the cdev, the legacy container and noiommu.
# --config FILE uses FILE (a full .config or a defconfig) instead.
#
# Built once, nice'd, with make -j2 (9 minutes on 2 idle cores, 19 on busy ones, measured),
# and cached as
#   ${VMM_KERNEL_CACHE:-/var/cache/vmm-kernel}/iommufd-6.12-<hash>/vmlinux
# where <hash> covers this script (not its comments), the config and the linux-source-6.12
# version. Parallel callers wait on one lock; the 1.5 GB source tree is deleted after the
# build. The path is the only line on stdout; progress goes to stderr.
#
# Needs (make deps installs them): linux-source-6.12 flex bison bc libelf-dev libssl-dev
# make gcc xz-utils.
# Exit status: 0 with the path printed; 1 with one line 'iommufd-kernel: ...'; 2 bad usage.
set -euo pipefail
export LC_ALL=C

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
CACHE=${VMM_KERNEL_CACHE:-/var/cache/vmm-kernel}
TARBALL=/usr/src/linux-source-6.12.tar.xz
CONFIG=
# A second caller waits this long for the first one's build.
LOCK_WAIT=${VMM_KERNEL_LOCK_WAIT:-3600}

say() { printf 'iommufd-kernel: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF" >&2
	exit 2
}

while (($#)); do
	case $1 in
	--config) CONFIG=${2:?}; shift 2 ;;
	--config=*) CONFIG=${1#*=}; shift ;;
	-h | --help) usage ;;
	*) echo "iommufd-kernel: unknown argument $1" >&2; usage ;;
	esac
done

# The built-in config: `make savedefconfig` of the level-1 kernel; `make olddefconfig`
# expands it to the full .config (615 options built in).
builtin_config() {
	sed -n '/^__DEFCONFIG__$/,$p' "$SELF" | sed 1d
}

if [[ -n $CONFIG ]]; then
	[[ -f $CONFIG ]] || die "no config file $CONFIG"
	CONFIG_TEXT=$(cat "$CONFIG")
else
	CONFIG_TEXT=$(builtin_config)
fi
[[ -n $CONFIG_TEXT ]] || die "empty config"

[[ -f $TARBALL ]] ||
	die "$TARBALL missing: install linux-source-6.12 (make deps; Debian 12 has it in bookworm-security and bookworm-backports)"
SRC_VER=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || stat -c '%s %Y' "$TARBALL")
missing=
for c in make gcc flex bison bc xz nice flock; do
	command -v "$c" >/dev/null || missing+=" $c"
done
[[ -f /usr/include/gelf.h ]] || missing+=" libelf-dev(gelf.h)"
[[ -f /usr/include/openssl/evp.h ]] || missing+=" libssl-dev(openssl/evp.h)"
[[ -z $missing ]] || die "missing build tools:$missing (make deps installs them)"

# Comment lines of the script aside: rewording them must not cost a rebuild.
KEY=$({ sed '/^__DEFCONFIG__$/,$d' "$SELF" | grep -v '^[[:space:]]*#'
	printf '%s\n' "$CONFIG_TEXT" "$SRC_VER"; } | sha256sum | cut -c1-16)
OUT=$CACHE/iommufd-6.12-$KEY
if [[ -s $OUT/vmlinux ]]; then
	echo "$OUT/vmlinux"
	exit 0
fi

mkdir -p "$CACHE" || die "cannot create $CACHE (set VMM_KERNEL_CACHE)"
exec 9>"$CACHE/iommufd.lock"
if ! flock -n 9; then
	say "another build holds $CACHE/iommufd.lock; waiting (up to ${LOCK_WAIT}s)"
	flock -w "$LOCK_WAIT" 9 || die "timeout waiting for $CACHE/iommufd.lock"
fi
if [[ -s $OUT/vmlinux ]]; then # built by whoever held the lock
	echo "$OUT/vmlinux"
	exit 0
fi

T0=$(date +%s)
TMP=$OUT.tmp
rm -rf "$TMP"
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
say "building Linux from linux-source-6.12 $SRC_VER into $OUT (9 to 19 minutes on 2 cores; log $TMP/build.log)"
tar -C "$TMP" -xJf "$TARBALL" || die "cannot unpack $TARBALL"
K=$(echo "$TMP"/linux-source-6.12*/)
[[ -f $K/Makefile ]] || die "$TARBALL has no linux-source-6.12*/Makefile"
printf '%s\n' "$CONFIG_TEXT" >"$K/.config"
# Reproducible enough: no user or host name in the banner.
export KBUILD_BUILD_USER=vmm KBUILD_BUILD_HOST=rig
make -C "$K" olddefconfig >"$TMP/build.log" 2>&1 || { tail -20 "$TMP/build.log" >&2; die "make olddefconfig failed"; }
for o in PVH SMP KVM_AMD KVM_INTEL INTEL_IOMMU IRQ_REMAP IOMMUFD VFIO VFIO_PCI VFIO_DEVICE_CDEV \
	VFIO_CONTAINER DEVTMPFS BLK_DEV_INITRD RD_GZIP SERIAL_8250_CONSOLE TMPFS UNIX98_PTYS; do
	grep -q "^CONFIG_$o=y" "$K/.config" || die "config: CONFIG_$o is not built in"
done
if ! nice -n 10 make -C "$K" -j2 vmlinux >>"$TMP/build.log" 2>&1; then
	tail -30 "$TMP/build.log" >&2
	die "kernel build failed (the last lines are above)"
fi
mkdir -p "$TMP/out"
cp "$K/vmlinux" "$K/.config" "$K/System.map" "$TMP/out/"
T1=$(date +%s)
printf 'linux-source-6.12 %s\nbuilt %s in %d s\n' "$SRC_VER" "$(date -u +%FT%TZ)" $((T1 - T0)) \
	>"$TMP/out/info"
cp "$TMP/build.log" "$TMP/out/"
rm -rf "$OUT"
mv "$TMP/out" "$OUT"
say "built in $((T1 - T0)) s"
echo "$OUT/vmlinux"
exit 0

# Nothing below runs: the config, read by builtin_config.
__DEFCONFIG__
# CONFIG_LOCALVERSION_AUTO is not set
# CONFIG_CROSS_MEMORY_ATTACH is not set
CONFIG_HIGH_RES_TIMERS=y
# CONFIG_PREEMPT_DYNAMIC is not set
# CONFIG_CPU_ISOLATION is not set
# CONFIG_UTS_NS is not set
# CONFIG_TIME_NS is not set
# CONFIG_PID_NS is not set
CONFIG_BLK_DEV_INITRD=y
# CONFIG_RD_BZIP2 is not set
# CONFIG_RD_LZMA is not set
# CONFIG_RD_XZ is not set
# CONFIG_RD_LZO is not set
# CONFIG_RD_LZ4 is not set
# CONFIG_RD_ZSTD is not set
# CONFIG_INITRAMFS_PRESERVE_MTIME is not set
CONFIG_SMP=y
# CONFIG_X86_MPPARSE is not set
# CONFIG_X86_EXTENDED_PLATFORM is not set
# CONFIG_SCHED_OMIT_FRAME_POINTER is not set
CONFIG_HYPERVISOR_GUEST=y
CONFIG_PARAVIRT=y
CONFIG_PVH=y
CONFIG_NR_CPUS=4
# CONFIG_SCHED_CLUSTER is not set
# CONFIG_SCHED_MC is not set
# CONFIG_X86_MCE is not set
# CONFIG_PERF_EVENTS_INTEL_UNCORE is not set
# CONFIG_PERF_EVENTS_INTEL_RAPL is not set
# CONFIG_PERF_EVENTS_INTEL_CSTATE is not set
# CONFIG_PERF_EVENTS_AMD_UNCORE is not set
# CONFIG_X86_IOPL_IOPERM is not set
# CONFIG_X86_5LEVEL is not set
# CONFIG_MTRR_SANITIZER is not set
# CONFIG_X86_KERNEL_IBT is not set
# CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS is not set
# CONFIG_RELOCATABLE is not set
# CONFIG_CPU_MITIGATIONS is not set
# CONFIG_SUSPEND is not set
# CONFIG_ACPI_SPCR_TABLE is not set
# CONFIG_ACPI_REV_OVERRIDE_POSSIBLE is not set
# CONFIG_ACPI_AC is not set
# CONFIG_ACPI_BATTERY is not set
# CONFIG_ACPI_BUTTON is not set
# CONFIG_ACPI_PROCESSOR is not set
# CONFIG_ACPI_TABLE_UPGRADE is not set
# CONFIG_CPU_IDLE is not set
# CONFIG_PCI_MMCONFIG is not set
CONFIG_KVM=y
CONFIG_KVM_INTEL=y
CONFIG_KVM_AMD=y
# CONFIG_KVM_SMM is not set
# CONFIG_KVM_HYPERV is not set
# CONFIG_SECCOMP is not set
# CONFIG_STACKPROTECTOR is not set
# CONFIG_VMAP_STACK is not set
# CONFIG_BLOCK_LEGACY_AUTOLOAD is not set
# CONFIG_BLK_DEV_WRITE_MOUNTED is not set
# CONFIG_MQ_IOSCHED_DEADLINE is not set
# CONFIG_MQ_IOSCHED_KYBER is not set
# CONFIG_CORE_DUMP_DEFAULT_ELF_HEADERS is not set
# CONFIG_SWAP is not set
# CONFIG_SLAB_MERGE_DEFAULT is not set
# CONFIG_SLUB_CPU_PARTIAL is not set
# CONFIG_COMPAT_BRK is not set
# CONFIG_SPARSEMEM_VMEMMAP is not set
# CONFIG_COMPACTION is not set
CONFIG_PCI=y
CONFIG_DEVTMPFS=y
# CONFIG_STANDALONE is not set
# CONFIG_PREVENT_FIRMWARE_BUILD is not set
# CONFIG_DMIID is not set
# CONFIG_PNP_DEBUG_MESSAGES is not set
# CONFIG_BLK_DEV is not set
# CONFIG_INTEL_MEI is not set
# CONFIG_INPUT_KEYBOARD is not set
# CONFIG_INPUT_MOUSE is not set
# CONFIG_SERIO is not set
# CONFIG_LEGACY_PTYS is not set
# CONFIG_LEGACY_TIOCSTI is not set
# CONFIG_LDISC_AUTOLOAD is not set
CONFIG_SERIAL_8250=y
# CONFIG_SERIAL_8250_DEPRECATED_OPTIONS is not set
CONFIG_SERIAL_8250_CONSOLE=y
# CONFIG_SERIAL_8250_PCI is not set
# CONFIG_SERIAL_8250_EXAR is not set
# CONFIG_SERIAL_8250_LPSS is not set
# CONFIG_SERIAL_8250_MID is not set
# CONFIG_SERIAL_8250_PERICOM is not set
# CONFIG_HW_RANDOM is not set
# CONFIG_DEVMEM is not set
# CONFIG_DEVPORT is not set
# CONFIG_HWMON is not set
# CONFIG_HID_SUPPORT is not set
# CONFIG_USB_SUPPORT is not set
CONFIG_VFIO=y
CONFIG_VFIO_DEVICE_CDEV=y
CONFIG_VFIO_NOIOMMU=y
CONFIG_VFIO_PCI=y
# CONFIG_VFIO_PCI_IGD is not set
# CONFIG_VIRTIO_MENU is not set
# CONFIG_VHOST_MENU is not set
# CONFIG_SURFACE_PLATFORMS is not set
# CONFIG_X86_PLATFORM_DEVICES is not set
CONFIG_AMD_IOMMU=y
CONFIG_INTEL_IOMMU=y
# CONFIG_INTEL_IOMMU_SCALABLE_MODE_DEFAULT_ON is not set
# CONFIG_INTEL_IOMMU_PERF_EVENTS is not set
CONFIG_IOMMUFD=y
CONFIG_IRQ_REMAP=y
# CONFIG_DNOTIFY is not set
# CONFIG_INOTIFY_USER is not set
CONFIG_TMPFS=y
# CONFIG_MISC_FILESYSTEMS is not set
# CONFIG_SYMBOLIC_ERRNAME is not set
# CONFIG_SECTION_MISMATCH_WARN_ONLY is not set
# CONFIG_X86_VERBOSE_BOOTUP is not set
CONFIG_UNWINDER_FRAME_POINTER=y
# CONFIG_RUNTIME_TESTING_MENU is not set
