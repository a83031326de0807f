/*
 * vmm/firmware.c - what a firmware image (SeaBIOS) finds in fw_cfg: the
 * machine's RAM and CPUs, its E820 map, the VMM's own ACPI tables through
 * the BIOS linker/loader, and, with --kernel, the kernel for our linuxboot
 * option ROM. Everything comes from the layout and the configuration that
 * direct boot uses too, so both paths describe one machine.
 */
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/file.h"
#include "common/log.h"
#include "firmware/acpi.h"
#include "firmware/linuxboot.h"
#include "vmm/vm.h"

#define FW_E820_ENTRY 20   /* QEMU's struct e820_entry: le64 address, le64 length, le32 type */

/*
 * etc/e820 as QEMU gives it to SeaBIOS: RAM from 0 to the top of low memory
 * in one piece (SeaBIOS reserves its own EBDA, option ROM and BIOS areas),
 * the KVM private pages, RAM above 4 GiB and the reserved IOVA hole; SeaBIOS
 * adds the ECAM window itself when it programs PCIEXBAR.
 */
static int vm_fw_e820(struct vm *vm)
{
	const struct pc_layout *l = &vm->layout;
	uint8_t buf[FW_E820_ENTRY * 4];
	unsigned n = 0;

#define E820(a, s, t) do { \
		put_le64(buf + n * FW_E820_ENTRY, (a)); \
		put_le64(buf + n * FW_E820_ENTRY + 8, (s)); \
		put_le32(buf + n * FW_E820_ENTRY + 16, (t)); \
		n++; \
	} while (0)
	E820(0, l->below_4g, E820_RAM);
	E820(PC_KVM_TSS, 16 * KiB, E820_RESERVED);
	if (l->above_4g)
		E820(l->above_4g_start, l->above_4g, E820_RAM);
	if (l->amd_hole)
		E820(PC_AMD_HT_START, PC_AMD_HT_END - PC_AMD_HT_START, E820_RESERVED);
#undef E820
	return fw_cfg_add_file(&vm->fw, "etc/e820", buf, n * FW_E820_ENTRY, 0, NULL);
}

static int vm_fw_acpi(struct vm *vm)
{
	struct acpi_tables t;
	uint8_t *loader = NULL;
	size_t len = 0;
	int r;

	r = vm_build_acpi(vm, &t);
	if (r)
		return r;
	r = acpi_loader(&t, &loader, &len);
	r = r ?: fw_cfg_add_file(&vm->fw, ACPI_FILE_TABLES, t.tables, (uint32_t)t.tables_len, 0,
				 NULL);
	r = r ?: fw_cfg_add_file(&vm->fw, ACPI_FILE_RSDP, t.rsdp, sizeof(t.rsdp), 0, NULL);
	r = r ?: fw_cfg_add_file(&vm->fw, ACPI_FILE_LOADER, loader, (uint32_t)len, 0, NULL);
	free(loader);
	acpi_tables_free(&t);
	if (r)
		log_error("cannot hand the ACPI tables to the firmware: %s", strerror(-r));
	return r;
}

/* --kernel with --firmware: the kernel goes to fw_cfg for the linuxboot option ROM. */
static int vm_fw_linuxboot(struct vm *vm)
{
	const uint8_t *kernel = NULL, *initrd = NULL;
	size_t klen = 0, ilen = 0;
	char err[256] = "";
	int r;

	r = vm_read_kernel(vm, &kernel, &klen, &initrd, &ilen);
	if (r)
		return r;
	r = fw_linuxboot_setup(&vm->fw, &vm->layout, kernel, klen, initrd, ilen, vm->cfg.append,
			       err, sizeof(err));
	if (r)
		log_error("kernel %s: %s", vm->cfg.kernel, err[0] ? err : strerror(-r));
	vm_unmap_kernel(kernel, klen, initrd, ilen);
	return r;
}

int vm_firmware_setup(struct vm *vm)
{
	int r;

	r = fw_cfg_init(&vm->fw, &vm->space);
	if (r)
		return r;
	vm->fw_ready = true;
	r = fw_cfg_register(&vm->fw, &vm->pio);
	r = r ?: fw_cfg_add_i64(&vm->fw, FW_CFG_RAM_SIZE, vm->layout.ram_size);
	r = r ?: fw_cfg_add_i16(&vm->fw, FW_CFG_NB_CPUS, (uint16_t)vm->cfg.cpus);
	r = r ?: fw_cfg_add_i16(&vm->fw, FW_CFG_MAX_CPUS, (uint16_t)vm->cfg.cpus);
	r = r ?: fw_cfg_add_i16(&vm->fw, FW_CFG_NOGRAPHIC, 1);
	r = r ?: vm_fw_e820(vm);
	if (r) {
		log_error("cannot set up fw_cfg: %s", strerror(-r));
		return r;
	}
	r = vm_fw_acpi(vm);
	if (!r && vm->cfg.kernel)
		r = vm_fw_linuxboot(vm);
	return r;
}
