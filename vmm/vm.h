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

#include <fcntl.h>
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
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_net.h"
#include "devices/virtio_pci.h"
#include "devices/virtio_rng.h"
#include "firmware/boot.h"
#include "vfio/backend.h"
#include "vfio/device.h"
#include "vfio/dma.h"
#include "vfio/pci.h"
#include "memory/memory.h"
#include "memory/pc.h"
#include "vmm/config.h"
#include "vmm/memslots.h"

struct vm;

#define VM_MAX_MSI 256           /* GSIs 24..279: one per PCI MSI/MSI-X vector */
#define VM_MSI_GSI_BASE 24

struct vm_msi_route {
	const struct pci_dev *dev;  /* the vector: device, kind and number */
	bool msix;
	unsigned vector;
	uint64_t addr;              /* its message, as last programmed */
	uint32_t data;
	unsigned gsi;
	int efd;                    /* irqfd of gsi */
	bool bound;                 /* KVM_IRQFD assigned */
	bool follow_mask;           /* passthrough: unbound while the vector is masked */
};

enum vm_virtio_kind { VM_VIRTIO_RNG, VM_VIRTIO_CONSOLE, VM_VIRTIO_NET, VM_VIRTIO_BLK };

/* One virtio-pci function and the device model behind it (vmm/devices.c). */
struct vm_virtio {
	struct vm *vm;
	enum vm_virtio_kind kind;
	char name[24];
	struct virtio_pci vp;
	union {
		struct virtio_rng rng;
		struct virtio_console con;
		struct virtio_net net;
		struct virtio_blk blk;
	} u;
	int fd[2];                  /* backend fds we opened (tap; console in/out) */
	bool model_ready, vp_ready;
};

/* One passthrough device (vmm/passthrough.c). */
struct vm_vfio {
	char name[24];
	int fd;                     /* from the backend until vfio_dev_fd takes it */
	struct vfio_dev_fd dfd;
	struct vfio_pci vp;
	bool dfd_ready, vp_ready;
	int intx_fd;                /* INTx trigger bound as a resample irqfd, -1 none */
	unsigned intx_gsi;
};

#define VCPU_PORT_STATS 16

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t io_exits, mmio_exits;  /* this vCPU's thread only; logged at destroy */
	/* I/O exits per port, for the first VCPU_PORT_STATS ports seen; the rest in port_other */
	struct vcpu_port_stat {
		uint16_t port;
		uint64_t n;
	} port_stats[VCPU_PORT_STATS];
	uint64_t port_other;
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
	/*
	 * MSI/MSI-X vectors as KVM GSI routes, each with an irqfd: a device's
	 * worker raises an interrupt with one eventfd write (vmm/devices.c).
	 */
	pthread_mutex_t msi_lock;
	struct vm_msi_route msi[VM_MAX_MSI];
	unsigned nr_msi;
	bool msi_full_warned;       /* the "out of GSI routes" warning was given */
	struct vm_virtio *virtio;   /* nr_virtio devices of the command line */
	/* passthrough: backend, devices, the IOVA ranges the layout keeps to, DMA */
	struct vfio_backend *vfio_be;
	struct vm_vfio vfio[VM_MAX_VFIO];
	unsigned nr_vfio_open;
	struct iova_range usable_iova[32];
	unsigned nr_usable_iova;
	struct vfio_dma vfio_dma;
	bool vfio_dma_ready;
	/* with --trace: the DMA listener's backend, logging each map/unmap before teardown */
	struct vfio_backend vfio_trace_be;
	bool vfio_trace_off;
	unsigned nr_virtio;
	bool ioeventfd_any_len;
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

	/* KVM's coalesced I/O ring (vmm/coalesced.c): posted COM1 THR writes */
	struct kvm_coalesced_mmio_ring *coalesced_ring;
	pthread_mutex_t coalesced_lock;      /* one vCPU plays the ring back at a time */
	bool coalesced_lock_ready;
	bool com1_posted;                    /* COM1's THR is a coalesced zone now */
	uint64_t coalesced_writes;           /* played back; under coalesced_lock */

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

/*
 * open(2) for a backend file named on the command line, close-on-exec; one
 * line naming @what and @path on failure, which returns -errno.
 */
#define VM_OPEN_OUTPUT (O_WRONLY | O_CREAT | O_TRUNC)
int vm_open_file(const char *path, int flags, const char *what) WUR;

/* KVM_IRQ_LINE for @gsi (an irq_line's set_level). */
void vm_irq_set(void *opaque, unsigned gsi, int level);

/* devices.c: the virtio devices of the command line on PCI bus 0. */
int vm_devices(struct vm *vm) WUR;
void vm_devices_destroy(struct vm *vm);
void vm_msi_destroy(struct vm *vm);
void vm_msi_send(void *opaque, uint64_t addr, uint32_t data);
void vm_msi_vector_changed(void *opaque, struct pci_dev *dev, bool msix, unsigned vector,
			   const struct pci_msi_msg *msg);
/* The irqfd eventfd routed to a vector (made on first use), or -1. */
int vm_msi_vector_fd(struct vm *vm, struct pci_dev *dev, bool msix, unsigned vector,
		     const struct pci_msi_msg *msg);

/* passthrough.c */
int vm_vfio_open(struct vm *vm) WUR;
int vm_vfio_dma(struct vm *vm) WUR;
int vm_vfio_devices(struct vm *vm) WUR;
void vm_vfio_destroy(struct vm *vm);
void vm_vfio_backend_destroy(struct vm *vm);

/* firmware.c: fw_cfg for a firmware image (--firmware), with --kernel for linuxboot. */
int vm_firmware_setup(struct vm *vm) WUR;

/* coalesced.c: posted port writes; drain before handling any exit */
#define VM_COALESCED_PAGE 4096  /* the ring is one x86 page */
#define VM_COALESCED_MAX ((VM_COALESCED_PAGE - sizeof(struct kvm_coalesced_mmio_ring)) / \
			  sizeof(struct kvm_coalesced_mmio))
int vm_coalesced_init(struct vm *vm) WUR;
void vm_coalesced_drain(struct vm *vm);
void vm_coalesced_destroy(struct vm *vm);

/* vcpu.c */
int vcpu_create(struct vm *vm, unsigned id) WUR;
void vcpu_destroy(struct vcpu *v);
int vcpu_setup(struct vcpu *v) WUR;
void *vcpu_thread(void *arg);

#endif
