/*
 * vmm - a minimal KVM virtual machine monitor.
 * Exit status: 0 guest powered off or reset, 1 fatal error, 2 usage error,
 * (v << 1) | 1 for a guest write of v to the debug-exit port.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "vmm/config.h"
#include "vmm/vm.h"

#define VMM_VERSION "0.1"

/* ms since the first call: the phases of a run, under VMM_DEBUG */
static double main_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	double t0 = main_ms();
	struct vm_config cfg;
	struct vm *vm;
	char err[256];
	int status;

	if (config_parse(&cfg, argc, argv, err, sizeof(err))) {
		log_error("%s", err);
		return 2;
	}
	if (cfg.help) {
		config_usage(stdout);
		return 0;
	}
	if (cfg.version) {
		printf("vmm %s\n", VMM_VERSION);
		return 0;
	}
	if (cfg.memory_map || cfg.dump_dtb) {
		if (cfg.memory_map && vm_print_memory_map(&cfg, stdout))
			return 1;
		if (cfg.dump_dtb && vm_dump_dtb(&cfg))
			return 1;
		return 0;
	}

	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		log_error("out of memory");
		return 1;
	}
	if (vm_create(vm, &cfg)) {
		vm_destroy(vm);
		free(vm);
		return 1;
	}
	log_debug("machine built in %.1f ms", main_ms() - t0);
	status = vm_run(vm);
	log_debug("guest ran until %.1f ms", main_ms() - t0);
	vm_destroy(vm);
	free(vm);
	log_debug("torn down at %.1f ms", main_ms() - t0);
	return status;
}
