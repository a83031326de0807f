/*
 * devices/acpi_pm.c - hardware-reduced ACPI sleep control/status registers
 * (see acpi_pm.h for the contract).
 */
#include <string.h>

#include "common/log.h"
#include "devices/acpi_pm.h"

static int acpi_pm_read(void *opaque UNUSED, uint64_t off UNUSED, unsigned size UNUSED,
			uint64_t *val)
{
	/* SLP_EN/SLP_TYP are write-only; WAK_STS is never set. */
	*val = 0;
	return 0;
}

static int acpi_pm_write(void *opaque, uint64_t off, unsigned size UNUSED, uint64_t val)
{
	const struct acpi_pm *pm = opaque;
	unsigned typ;

	if (off != 0)
		return 0;             /* SLEEP_STATUS: W1C of a bit that is never set */
	if (!(val & ACPI_PM_SLP_EN))
		return 0;
	typ = (unsigned)(val & ACPI_PM_SLP_TYP_MASK) >> ACPI_PM_SLP_TYP_SHIFT;
	if (typ != ACPI_PM_SLP_TYP_S5) {
		log_debug("acpi_pm: sleep type %u ignored", typ);
		return 0;
	}
	if (pm->poweroff)
		pm->poweroff(pm->opaque);
	return 0;
}

const struct access_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
	.min_size = 1,
	.max_size = 1,
};

void acpi_pm_init(struct acpi_pm *pm, void (*poweroff_fn)(void *opaque), void *opaque)
{
	memset(pm, 0, sizeof(*pm));
	pm->poweroff = poweroff_fn;
	pm->opaque = opaque;
}

int acpi_pm_register(struct acpi_pm *pm, struct iobus *bus)
{
	return iobus_register(bus, ACPI_PM_SLEEP_PORT, ACPI_PM_SLEEP_LEN, &acpi_pm_ops, pm,
			      "acpi-sleep");
}
