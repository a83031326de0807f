/*
 * devices/acpi_pm.h - the hardware-reduced ACPI sleep registers (ACPI 6.5
 * section 4.8.3.7), which the FADT's SLEEP_CONTROL_REG / SLEEP_STATUS_REG
 * point at (firmware/acpi.c):
 *   0x600  SLEEP_CONTROL (8-bit): a write with SLP_EN (bit 5) set and
 *          SLP_TYP (bits 4:2) == ACPI_PM_SLP_TYP_S5 calls poweroff(opaque).
 *          Any other value is ignored (no S1-S4). Reads return 0.
 *   0x601  SLEEP_STATUS (8-bit): WAK_STS (bit 7) is write-1-to-clear; the VMM
 *          never wakes a sleeping guest, so it is never set and reads 0.
 *
 * Contract
 * - One struct acpi_pm the caller owns; acpi_pm_register() claims both
 *   ports (ACPI_PM_SLEEP_PORT, ACPI_PM_SLEEP_LEN) on an iobus with
 *   acpi_pm_ops, opaque = the struct acpi_pm. Only 1-byte accesses: the bus
 *   refuses others before the handler runs.
 * - The state is set once by acpi_pm_init() and only read afterwards, so
 *   there is no lock; the callback runs on the vCPU thread (no device lock
 *   is held). It may be NULL (the request is then ignored). Each qualifying
 *   write calls it once; the caller's stop path must be idempotent.
 */
#ifndef VMM_DEVICES_ACPI_PM_H
#define VMM_DEVICES_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/access.h"
#include "common/compiler.h"
#include "devices/iobus.h"

#define ACPI_PM_SLEEP_PORT      0x600
#define ACPI_PM_SLEEP_CTL_PORT  ACPI_PM_SLEEP_PORT
#define ACPI_PM_SLEEP_STS_PORT  (ACPI_PM_SLEEP_PORT + 1)
#define ACPI_PM_SLEEP_LEN       2

#define ACPI_PM_SLP_EN          0x20
#define ACPI_PM_SLP_TYP_MASK    0x1C
#define ACPI_PM_SLP_TYP_SHIFT   2
#define ACPI_PM_SLP_TYP_S5      5   /* the DSDT's \_S5 package says the same */
#define ACPI_PM_WAK_STS         0x80

struct acpi_pm {
	void (*poweroff)(void *opaque);
	void *opaque;
};

extern const struct access_ops acpi_pm_ops;

void acpi_pm_init(struct acpi_pm *pm, void (*poweroff_fn)(void *opaque), void *opaque);
int acpi_pm_register(struct acpi_pm *pm, struct iobus *bus) WUR;

#endif
