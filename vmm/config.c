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
	OPT_HELP, OPT_VERSION, OPT_DUMP_DTB, OPT_DTB_TO_GUEST,
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
	      "  --serial stdio|null|file:PATH   COM1 backend (default stdio)\n"
	      "  --debugcon PATH        port 0x402 output\n"
	      "  --amd-hole auto|on|off keep RAM out of the AMD HyperTransport range (default auto)\n"
	      "  --phys-bits N          guest physical address bits (default: the host's)\n"
	      "  --memory-map           print the guest physical layout and exit\n"
	      "  --dump-dtb PATH        write the machine description (FDT) and exit\n"
	      "  --dtb-to-guest         pass that FDT to a bzImage kernel as setup_data\n"
	      "  --trace memslots=PATH  log every memslot change\n"
	      "exit status: 0 guest powered off or reset, 1 fatal error, 2 usage error,\n"
	      "             (v << 1) | 1 when the guest writes v to the debug-exit port 0x501\n", f);
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
	if (cfg->dtb_to_guest && !cfg->kernel)
		return config_bad(err, errlen, "%s", "--dtb-to-guest needs --kernel");
	if (cfg->memory < 2 * MiB || cfg->memory % (4 * KiB))
		return config_bad(err, errlen, "%s", "bad --memory: want at least 2M, a multiple of 4K");
	return 0;
}
