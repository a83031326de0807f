#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"

int config_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case '\0': break;
	default: return -EINVAL;
	}
	/* accept "256MiB"/"256MB" spellings, nothing else after the suffix */
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "B")))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (shift && v > (~0ULL >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

enum {
	OPT_KERNEL = 256, OPT_INITRD, OPT_APPEND, OPT_FIRMWARE, OPT_MEMORY, OPT_CPUS,
	OPT_SERIAL, OPT_DEBUGCON, OPT_MEMORY_MAP, OPT_TRACE, OPT_AMD_HOLE, OPT_PHYS_BITS,
	OPT_HELP, OPT_VERSION, OPT_DUMP_DTB, OPT_DTB_TO_GUEST, OPT_DISK, OPT_NET, OPT_RNG,
	OPT_CONSOLE, OPT_DEVICE, OPT_VFIO_BACKEND, OPT_NUMA,
};

static const struct option config_opts[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "firmware", required_argument, NULL, OPT_FIRMWARE },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "debugcon", required_argument, NULL, OPT_DEBUGCON },
	{ "memory-map", no_argument, NULL, OPT_MEMORY_MAP },
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "amd-hole", required_argument, NULL, OPT_AMD_HOLE },
	{ "phys-bits", required_argument, NULL, OPT_PHYS_BITS },
	{ "dump-dtb", required_argument, NULL, OPT_DUMP_DTB },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "numa", required_argument, NULL, OPT_NUMA },
	{ "vfio-backend", required_argument, NULL, OPT_VFIO_BACKEND },
	{ "dtb-to-guest", no_argument, NULL, OPT_DTB_TO_GUEST },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void config_usage(FILE *f)
{
	fputs("usage: vmm [--firmware PATH] [--kernel PATH [--initrd PATH] [--append STR]] [options]\n"
	      "  --kernel PATH          Linux bzImage (64-bit boot protocol) or ELF vmlinux (PVH)\n"
	      "  --initrd PATH          initial ramdisk\n"
	      "  --append STR           kernel command line\n"
	      "  --firmware PATH        raw firmware image, ends at 4 GiB, reset vector start;\n"
	      "                         with --kernel, the kernel goes to it through fw_cfg\n"
	      "  --memory SIZE          guest RAM, K/M/G/T suffixes (default 256M)\n"
	      "  --cpus N               vCPUs (default 1, max 64)\n"
	      "  --numa N               N NUMA nodes sharing RAM and vCPUs evenly (ACPI SRAT)\n"
	      "  --serial stdio|null|file:PATH   COM1 backend (default stdio)\n"
	      "  --debugcon PATH        port 0x402 output\n"
	      "  --amd-hole auto|on|off keep RAM out of the AMD HyperTransport range (default auto)\n"
	      "  --phys-bits N          guest physical address bits (default: the host's)\n"
	      "  --memory-map           print the guest physical layout and exit\n"
	      "  --disk path=IMG[,readonly=on]   virtio-blk on a raw image (up to 8)\n"
	      "  --net tap=NAME|fd=N[,mac=XX:XX:XX:XX:XX:XX]   virtio-net on a tap (up to 4)\n"
	      "  --rng                  virtio-rng (bytes from getrandom)\n"
	      "  --console null|stdio|file:PATH|fifo:IN,OUT   virtio-console port\n"
	      "  --device vfio=BDF|SYSFS_PATH[,x-split-qword=on][,x-no-mmap=on]\n"
	      "                         PCI passthrough (up to 4); x-no-mmap traps every BAR access\n"
	      "  --vfio-backend auto|type1|iommufd   VFIO backend (default auto)\n"
	      "  --dump-dtb PATH        write the machine description (FDT) and exit\n"
	      "  --dtb-to-guest         pass that FDT to a bzImage kernel as setup_data\n"
	      "  --trace memslots=PATH  log every memslot change\n"
	      "exit status: 0 guest powered off or reset, 1 fatal error, 2 usage error,\n"
	      "             (v << 1) | 1 when the guest writes v to the debug-exit port 0x501\n", f);
}

static int config_bad(char *err, size_t errlen, const char *fmt, const char *arg);

/* tok is "NAME=on" or "NAME=off": *out set, true; anything else: false, *out untouched. */
static bool config_onoff(const char *tok, const char *name, bool *out)
{
	size_t n = strlen(name);

	if (strncmp(tok, name, n) || tok[n] != '=')
		return false;
	if (!strcmp(tok + n + 1, "on"))
		*out = true;
	else if (!strcmp(tok + n + 1, "off"))
		*out = false;
	else
		return false;
	return true;
}

/* "path=IMG[,readonly=on|off]" */
static int config_disk(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	struct vm_disk_cfg *d;
	char *save = NULL, *tok;

	if (cfg->nr_disks == VM_MAX_DISKS)
		return config_bad(err, errlen, "too many --disk (at most %s)", "8");
	d = &cfg->disks[cfg->nr_disks];
	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "path=", 5) && tok[5])
			d->path = tok + 5;
		else if (!config_onoff(tok, "readonly", &d->readonly))
			return config_bad(err, errlen, "bad --disk field '%s' (want path=IMG[,readonly=on])", tok);
	}
	if (!d->path)
		return config_bad(err, errlen, "%s", "--disk needs path=IMG");
	cfg->nr_disks++;
	return 0;
}

static int config_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6], i;
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return (mac[0] & 1) ? -EINVAL : 0;   /* a multicast address cannot be a NIC's */
}

/* "tap=NAME|fd=N[,mac=XX:XX:XX:XX:XX:XX]" */
static int config_net(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	struct vm_net_cfg *n;
	char *save = NULL, *tok, *end;
	long fd;

	if (cfg->nr_nets == VM_MAX_NETS)
		return config_bad(err, errlen, "too many --net (at most %s)", "4");
	n = &cfg->nets[cfg->nr_nets];
	n->fd = -1;
	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "tap=", 4)) {
			n->tap = tok + 4;
		} else if (!strncmp(tok, "fd=", 3)) {
			errno = 0;
			fd = strtol(tok + 3, &end, 10);
			if (errno || *end || end == tok + 3 || fd < 0 || fd > 65535)
				return config_bad(err, errlen, "bad --net fd '%s'", tok + 3);
			n->fd = (int)fd;
		} else if (!strncmp(tok, "mac=", 4)) {
			if (config_mac(tok + 4, n->mac))
				return config_bad(err, errlen, "bad --net mac '%s' (want a unicast XX:XX:XX:XX:XX:XX)", tok + 4);
			n->has_mac = true;
		} else {
			return config_bad(err, errlen, "bad --net field '%s' (want tap=NAME or fd=N, mac=...)", tok);
		}
	}
	if (!n->tap == (n->fd < 0))
		return config_bad(err, errlen, "%s", "--net needs exactly one of tap=NAME or fd=N");
	cfg->nr_nets++;
	return 0;
}

/* "vfio=DEV[,x-split-qword=on|off][,x-no-mmap=on|off]" */
static int config_device(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	struct vm_vfio_cfg *v;
	char *save = NULL, *tok;

	if (cfg->nr_vfio == VM_MAX_VFIO)
		return config_bad(err, errlen, "too many --device (at most %s)", "4");
	v = &cfg->vfio[cfg->nr_vfio];
	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "vfio=", 5) && tok[5])
			v->dev = tok + 5;
		else if (!config_onoff(tok, "x-split-qword", &v->split_qword) &&
			 !config_onoff(tok, "x-no-mmap", &v->no_mmap))
			return config_bad(err, errlen, "bad --device field '%s' (want vfio=BDF[,x-split-qword=on][,x-no-mmap=on])", tok);
	}
	if (!v->dev)
		return config_bad(err, errlen, "%s", "--device needs vfio=BDF or vfio=SYSFS_PATH");
	cfg->nr_vfio++;
	return 0;
}

static int config_console(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
	char *comma;

	if (!strcmp(arg, "null")) {
		cfg->console = CONSOLE_NULL;
	} else if (!strcmp(arg, "stdio")) {
		cfg->console = CONSOLE_STDIO;
	} else if (!strncmp(arg, "file:", 5) && arg[5]) {
		cfg->console = CONSOLE_FILE;
		cfg->console_out = arg + 5;
	} else if (!strncmp(arg, "fifo:", 5) && (comma = strchr(arg + 5, ',')) && comma != arg + 5 &&
		   comma[1]) {
		*comma = '\0';
		cfg->console = CONSOLE_FIFO;
		cfg->console_in = arg + 5;
		cfg->console_out = comma + 1;
	} else {
		return config_bad(err, errlen, "bad --console '%s' (want null, stdio, file:PATH or fifo:IN,OUT)", arg);
	}
	return 0;
}

static int config_bad(char *err, size_t errlen, const char *fmt, const char *arg)
{
	snprintf(err, errlen, fmt, arg);
	return -EINVAL;
}

int config_parse(struct vm_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	int c;
	unsigned long n;
	char *end;

	memset(cfg, 0, sizeof(*cfg));
	cfg->memory = 256 * MiB;
	cfg->cpus = 1;
	cfg->serial = SERIAL_STDIO;
	cfg->amd_hole = PC_AMD_HOLE_AUTO;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", config_opts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL: cfg->kernel = optarg; break;
		case OPT_INITRD: cfg->initrd = optarg; break;
		case OPT_APPEND: cfg->append = optarg; break;
		case OPT_FIRMWARE: cfg->firmware = optarg; break;
		case OPT_MEMORY:
			if (config_parse_size(optarg, &cfg->memory))
				return config_bad(err, errlen, "bad --memory '%s' (want e.g. 512M, 4G)", optarg);
			break;
		case OPT_CPUS:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > VM_MAX_CPUS)
				return config_bad(err, errlen, "bad --cpus '%s' (want 1..64)", optarg);
			cfg->cpus = n;
			break;
		case OPT_SERIAL:
			if (!strcmp(optarg, "stdio"))
				cfg->serial = SERIAL_STDIO;
			else if (!strcmp(optarg, "null"))
				cfg->serial = SERIAL_NULL;
			else if (!strncmp(optarg, "file:", 5) && optarg[5]) {
				cfg->serial = SERIAL_FILE;
				cfg->serial_path = optarg + 5;
			} else
				return config_bad(err, errlen, "bad --serial '%s' (want stdio, null or file:PATH)", optarg);
			break;
		case OPT_DEBUGCON: cfg->debugcon = optarg; break;
		case OPT_MEMORY_MAP: cfg->memory_map = true; break;
		case OPT_TRACE:
			if (strncmp(optarg, "memslots=", 9) || !optarg[9])
				return config_bad(err, errlen, "bad --trace '%s' (want memslots=PATH)", optarg);
			cfg->trace_memslots = optarg + 9;
			break;
		case OPT_AMD_HOLE:
			if (!strcmp(optarg, "auto"))
				cfg->amd_hole = PC_AMD_HOLE_AUTO;
			else if (!strcmp(optarg, "on"))
				cfg->amd_hole = PC_AMD_HOLE_ON;
			else if (!strcmp(optarg, "off"))
				cfg->amd_hole = PC_AMD_HOLE_OFF;
			else
				return config_bad(err, errlen, "bad --amd-hole '%s' (want auto, on or off)", optarg);
			break;
		case OPT_PHYS_BITS:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 32 || n > 52)
				return config_bad(err, errlen, "bad --phys-bits '%s' (want 32..52)", optarg);
			cfg->phys_bits = n;
			break;
		case OPT_DUMP_DTB: cfg->dump_dtb = optarg; break;
		case OPT_DISK:
			if (config_disk(cfg, optarg, err, errlen))
				return -EINVAL;
			break;
		case OPT_NET:
			if (config_net(cfg, optarg, err, errlen))
				return -EINVAL;
			break;
		case OPT_RNG: cfg->rng = true; break;
		case OPT_NUMA:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > 8)
				return config_bad(err, errlen, "bad --numa '%s' (want 1..8 nodes)", optarg);
			cfg->numa_nodes = n;
			break;
		case OPT_DEVICE:
			if (config_device(cfg, optarg, err, errlen))
				return -EINVAL;
			break;
		case OPT_VFIO_BACKEND:
			if (strcmp(optarg, "auto") && strcmp(optarg, "type1") && strcmp(optarg, "iommufd"))
				return config_bad(err, errlen, "bad --vfio-backend '%s' (want auto, type1 or iommufd)", optarg);
			cfg->vfio_backend = optarg;
			break;
		case OPT_CONSOLE:
			if (config_console(cfg, optarg, err, errlen))
				return -EINVAL;
			break;
		case OPT_DTB_TO_GUEST: cfg->dtb_to_guest = true; break;
		case OPT_HELP: case 'h': cfg->help = true; break;
		case OPT_VERSION: cfg->version = true; break;
		case ':':
			return config_bad(err, errlen, "option '%s' needs a value", argv[optind - 1]);
		default:
			return config_bad(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return config_bad(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
	if (cfg->help || cfg->version)
		return 0;
	if (!cfg->memory_map && !cfg->dump_dtb && !cfg->kernel && !cfg->firmware)
		return config_bad(err, errlen, "%s", "nothing to run: give --kernel PATH or --firmware PATH");
	if ((cfg->initrd || cfg->append) && !cfg->kernel)
		return config_bad(err, errlen, "%s", "--initrd and --append need --kernel");
	if (cfg->console == CONSOLE_STDIO && cfg->serial == SERIAL_STDIO)
		return config_bad(err, errlen, "%s", "--console stdio needs --serial null or file:PATH (one stdin)");
	if (cfg->dtb_to_guest && !cfg->kernel)
		return config_bad(err, errlen, "%s", "--dtb-to-guest needs --kernel");
	if (cfg->memory < 2 * MiB || cfg->memory % (4 * KiB))
		return config_bad(err, errlen, "%s", "bad --memory: want at least 2M, a multiple of 4K");
	return 0;
}
