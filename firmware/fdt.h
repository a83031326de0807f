/*
 * firmware/fdt.h - a flattened device tree (libfdt) describing the x86 PC
 * machine: for kernel test rigs and for `vmm --dump-dtb PATH`.
 *
 * Contract
 * - fdt_build() is pure: from a const description of the machine (the PC
 *   layout and its E820, CPU count, command line, ECAM, PCI bus 0 devices,
 *   initrd) it returns a malloc'd, packed DTB in *@blob (free() it) and its
 *   size in *@len. It validates the whole description first: -EINVAL for a
 *   bad one (no layout, ncpus 0 or > FDT_MAX_CPUS, a command line of
 *   FW_CMDLINE_MAX bytes or more, a misplaced ECAM, an initrd outside RAM,
 *   an overlapping or wrapping E820, a bad PCI entry), -ENOMEM, or -E2BIG
 *   when the tree would exceed FDT_MAX_BLOB. On error *@blob is untouched.
 * - fdt_write_file() writes a blob that passes fdt_check_header() and whose
 *   totalsize is @len (-EINVAL otherwise) to @path (created 0644 or
 *   truncated) and returns 0 or -errno; printing the one-line error is the
 *   caller's job.
 * - No state: every function works on its arguments alone.
 *
 * What the tree says (root #address-cells = #size-cells = 2):
 * - /chosen: bootargs, linux,initrd-start/-end (u64, end exclusive).
 * - /cpus: cpu@N, reg = APIC id N (0..ncpus-1).
 * - /memory@A: one node per E820 RAM entry.
 * - /reserved-memory: every address below the top of the layout that is not
 *   E820 RAM, tiled exactly once, each child `no-map` with a string
 *   `reason`. Children taken from E820 carry `e820-type` (u32) and say what
 *   E820 says ("ebda-mp-table-bios", "pci-ecam", "kvm-tss-identity-map",
 *   "amd-ht-hole", "reserved-iova", ...). The holes E820 does not list
 *   follow ("pci-hole-32", "ioapic-lapic", "firmware-flash",
 *   "memory-hotplug", "pci-hole-64"), and whatever is still left is
 *   "unassigned". TSEG is not listed: E820 does not carve it out either.
 * - /pci@ECAM: pci-host-ecam-generic over bus 0..(ecam_size/1 MiB - 1),
 *   ranges for I/O, the 32-bit and the 64-bit windows of the layout, and
 *   one child per fdt_cfg.pci entry.
 */
#ifndef VMM_FIRMWARE_FDT_H
#define VMM_FIRMWARE_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "memory/pc.h"

/* 8-bit xAPIC ids 0..254; 0xFF is the broadcast id. */
#define FDT_MAX_CPUS 255u
/* Upper bound on a built tree; the largest real one is a few KiB plus the cmdline. */
#define FDT_MAX_BLOB (1024 * 1024)
/* Node names: 1..31 characters of [A-Za-z0-9,._+-], starting with a letter. */
#define FDT_NAME_MAX 31u

struct fdt_pci_dev {
	unsigned devfn;         /* 0..255: slot << 3 | function, bus 0 */
	uint16_t vendor, device;
	uint32_t class_code;    /* 24 bits: base class << 16 | subclass << 8 | prog-if */
	const char *name;       /* node name, e.g. "virtio-blk"; NULL gives "pci-device" */
};

struct fdt_cfg {
	const struct pc_layout *layout;   /* e820, pci32/pci64, hotplug, amd_hole */
	unsigned ncpus;                   /* 1..FDT_MAX_CPUS */
	const char *cmdline;              /* may be NULL: no bootargs */
	uint64_t ecam_base, ecam_size;    /* 1 MiB aligned, 1..256 MiB */
	const struct fdt_pci_dev *pci;    /* bus 0 devices; may be NULL when nr_pci is 0 */
	unsigned nr_pci;
	uint64_t initrd_start, initrd_size; /* size 0: no initrd */
};

int fdt_build(const struct fdt_cfg *cfg, void **blob, size_t *len) WUR;
int fdt_write_file(const void *blob, size_t len, const char *path) WUR;

#endif
