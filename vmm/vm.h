/*
 * vmm/vm.h - one virtual machine: the only layer that includes everything.
 *
 * Contract
 * - vm_create() builds the machine from struct vm_config in a fixed order
 *   (KVM VM, memory, layout, platform devices, guest image, vCPUs) and
 *   unwinds on any error; vm_destroy() is safe on a half-built VM.
 * - vm_run() starts one thread per vCPU and returns the exit status the
 *   process should end with (0 poweroff/reset, 1 fatal, (v<<1)|1 debug-exit).
 * - All state hangs off struct vm: two VMs can live in one process.
 */
#ifndef VMM_VMM_VM_H
#define VMM_VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "devices/acpi_pm.h"
#include "devices/cmos.h"
#include "devices/debugport.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/iobus.h"
#include "devices/pci.h"
#include "devices/q35.h"
#include "devices/serial.h"
#include "firmware/boot.h"
#include "memory/memory.h"
#include "memory/pc.h"
#include "vmm/config.h"
#include "vmm/memslots.h"

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

struct vm {
	struct vm_config cfg;
	int kvm_fd, vm_fd;
	int run_size;

	unsigned host_phys_bits;
	bool host_is_amd;
	struct pc_layout layout;
	struct mem_space space;
	bool space_ready;
	struct mem_backend *ram, *bios;
	struct pc_mem pc;
	struct memslots slots;
	bool slots_registered;
	/* SMM (KVM address space 1): a view that follows `space`, when KVM has SMM */
	bool has_smm;
	struct mem_space smm_space;
	struct memslots smm_slots;
	bool smm_space_ready, smm_slots_registered;
	FILE *trace;

	struct iobus pio;
	bool pio_ready;
	struct serial serial;
	struct i8042 kbd;
	struct cmos cmos;
	struct debugport dbg;
	struct q35_host q35;
	struct pci_bus pci;         /* bus 0 behind the host bridge */
	struct pci_ecam ecam;       /* MMCONFIG, placed by the guest through PCIEXBAR */
	bool pci_ready, ecam_ready;
	struct acpi_pm pm;
	struct fw_cfg fw;           /* with --firmware */
	bool fw_ready;
	int serial_fd, debugcon_fd;
	bool serial_ready, cmos_ready;

	/*
	 * MMIO exits whose address the flat view says is RAM the guest may use
	 * that way: KVM had no memslot there at that instant (a "hole"). Served
	 * from RAM anyway, counted, and reported when the VM ends.
	 */
	atomic_ullong ram_mmio_exits;
	_Atomic uint64_t ram_mmio_first;

	struct fw_entry entry;
	bool direct_boot;

	struct vcpu vcpus[VM_MAX_CPUS];
	unsigned nr_vcpus;

	/* stop protocol: the first stop wins, every vCPU is kicked out of KVM_RUN */
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping;
	int exit_status;
	int stop_efd;               /* wakes the main thread's stdin loop */
};

#define VM_APM_CNT_PORT 0xB2    /* ICH9 APM control: a write raises an SMI */

int vm_create(struct vm *vm, const struct vm_config *cfg) WUR;
void vm_destroy(struct vm *vm);
int vm_run(struct vm *vm);
/* Stop the VM with @status (first caller wins); @why is logged unless NULL. */
void vm_stop(struct vm *vm, int status, const char *why);
/* Print the E820 table and the memslots (--memory-map). */
int vm_print_memory_map(const struct vm_config *cfg, FILE *f) WUR;
/* Write the machine description (FDT) to cfg->dump_dtb (--dump-dtb). */
int vm_dump_dtb(const struct vm_config *cfg) WUR;

int vm_irq_routing(struct vm *vm) WUR;

/* machine.c, shared with firmware.c */
struct acpi_tables;
int vm_build_acpi(const struct vm *vm, struct acpi_tables *t) WUR;
/* Map --kernel and --initrd (one-line errors); undo with vm_unmap_kernel(). */
int vm_read_kernel(struct vm *vm, const uint8_t **kernel, size_t *klen, const uint8_t **initrd,
		   size_t *ilen) WUR;
void vm_unmap_kernel(const uint8_t *kernel, size_t klen, const uint8_t *initrd, size_t ilen);

/* firmware.c: fw_cfg for a firmware image (--firmware), with --kernel for linuxboot. */
int vm_firmware_setup(struct vm *vm) WUR;

/* vcpu.c */
int vcpu_create(struct vm *vm, unsigned id) WUR;
void vcpu_destroy(struct vcpu *v);
int vcpu_setup(struct vcpu *v) WUR;
void *vcpu_thread(void *arg);

#endif
