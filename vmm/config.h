/*
 * vmm/config.h - what the user asked for: the CLI parsed into struct
 * vm_config. Pure (no KVM, no files opened), so tests can drive it.
 *
 * Contract: config_parse() returns 0, or -EINVAL with a one-line reason in
 * err (the caller prints it and exits 2). Paths are kept as given; opening
 * them is the machine's job.
 */
#ifndef VMM_VMM_CONFIG_H
#define VMM_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "common/compiler.h"
#include "memory/pc.h"

#define VM_MAX_CPUS 64

enum serial_backend { SERIAL_STDIO, SERIAL_NULL, SERIAL_FILE };

#define VM_MAX_DISKS 8
#define VM_MAX_NETS  4
#define VM_MAX_VFIO  4

struct vm_vfio_cfg {
	const char *dev;            /* "0000:00:03.0" or a sysfs path */
	bool split_qword;           /* x-split-qword=on: 8-byte accesses as two dwords */
	bool no_mmap;               /* x-no-mmap=on: every BAR access trapped (tests, debugging) */
};

struct vm_disk_cfg {
	const char *path;
	bool readonly;
};

struct vm_net_cfg {
	const char *tap;            /* tap=NAME (may be ""), or NULL with fd >= 0 */
	int fd;                     /* fd=N, an inherited tap; -1 otherwise */
	bool has_mac;
	uint8_t mac[6];
};

enum console_backend { CONSOLE_NONE, CONSOLE_STDIO, CONSOLE_NULL, CONSOLE_FILE, CONSOLE_FIFO };

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *append;
	const char *firmware;
	uint64_t memory;            /* bytes */
	unsigned cpus;
	unsigned numa_nodes;        /* --numa N: RAM and vCPUs split evenly (ACPI SRAT); 0/1: none */
	enum serial_backend serial;
	const char *serial_path;    /* SERIAL_FILE */
	const char *debugcon;       /* path, or NULL */
	const char *trace_memslots; /* path, or NULL */
	enum pc_amd_hole amd_hole;
	unsigned phys_bits;         /* 0: the host's */
	bool memory_map;            /* print the layout and exit */
	const char *dump_dtb;       /* write the machine's device tree here and exit */
	bool dtb_to_guest;          /* hand the device tree to a bzImage as SETUP_DTB */
	struct vm_disk_cfg disks[VM_MAX_DISKS];     /* --disk: virtio-blk */
	unsigned nr_disks;
	struct vm_net_cfg nets[VM_MAX_NETS];        /* --net: virtio-net */
	unsigned nr_nets;
	bool rng;                   /* --rng: virtio-rng */
	struct vm_vfio_cfg vfio[VM_MAX_VFIO];       /* --device vfio=...: passthrough */
	unsigned nr_vfio;
	const char *vfio_backend;   /* --vfio-backend auto|type1|iommufd; NULL: auto */
	enum console_backend console;               /* --console: virtio-console */
	const char *console_in, *console_out;       /* FILE: out only; FIFO: both */
	bool help, version;
};

/* Parse a size with an optional K/M/G/T suffix (binary units); -EINVAL on junk or overflow. */
int config_parse_size(const char *s, uint64_t *out) WUR;
int config_parse(struct vm_config *cfg, int argc, char **argv, char *err, size_t errlen) WUR;
void config_usage(FILE *f);

#endif
