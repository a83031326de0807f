/*
 * firmware/mptable.c - Intel MultiProcessor Specification 1.4 tables: the
 * floating pointer (found by the OS scanning the first KiB of the EBDA,
 * whose segment the BDA holds at 0x40E) followed by the configuration table.
 *
 * The machine described: ncpus LAPICs (ids 0..n-1, CPU 0 the BSP), one
 * IOAPIC (id n), one ISA bus, the ISA IRQs on IOAPIC pins the way a PC wires
 * them (the PIT's IRQ0 on pin 2, where the 8259 cascade would be; the rest
 * identity), and the LAPIC LINT0/LINT1 pins as ExtINT/NMI (virtual wire).
 */
#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "firmware/boot.h"
#include "firmware/fw_internal.h"

#define MP_FPS_SIZE        16
#define MP_HDR_SIZE        44
#define MP_CPU_SIZE        20
#define MP_ENTRY_SIZE      8     /* bus, IOAPIC, I/O and local interrupt entries */
#define MP_SPEC_REV        4     /* 1.4 */

#define MP_ENT_PROCESSOR   0
#define MP_ENT_BUS         1
#define MP_ENT_IOAPIC      2
#define MP_ENT_IOINT       3
#define MP_ENT_LOCALINT    4

#define MP_CPU_EN          0x01
#define MP_CPU_BP          0x02
#define MP_IOAPIC_EN       0x01
#define MP_INT_INT         0
#define MP_INT_NMI         1
#define MP_INT_EXTINT      3
#define MP_FLAGS_CONFORM   0     /* polarity and trigger as the bus defines (ISA: edge, high) */

#define MP_LAPIC_VERSION   0x14  /* integrated APIC */
#define MP_IOAPIC_VERSION  0x11
#define MP_IOAPIC_PINS     24
/* Family 6 with FPU and APIC: Linux only reads the ids and flags, others want sane values. */
#define MP_CPU_SIGNATURE   0x600
#define MP_CPU_FEATURES    ((1u << 0) | (1u << 9))

#define MP_ISA_BUS_ID      0
#define MP_ISA_IRQS        16
#define MP_ALL_LAPICS      0xFF

#define BDA_EBDA_SEG       0x40E

size_t fw_mptable_size(unsigned ncpus)
{
	/* 15 ISA entries: IRQ2 is the 8259 cascade and has no line of its own. */
	return MP_FPS_SIZE + MP_HDR_SIZE + (size_t)ncpus * MP_CPU_SIZE +
	       MP_ENTRY_SIZE * (1 + 1 + (MP_ISA_IRQS - 1) + 2);
}

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)(0x100 - sum);
}

static uint8_t *mp_int_entry(uint8_t *p, uint8_t type, uint8_t irqtype, uint8_t src_irq,
			     uint8_t dst_id, uint8_t dst_pin)
{
	p[0] = type;
	p[1] = irqtype;
	put_le16(p + 2, MP_FLAGS_CONFORM);
	p[4] = MP_ISA_BUS_ID;
	p[5] = src_irq;
	p[6] = dst_id;
	p[7] = dst_pin;
	return p + MP_ENTRY_SIZE;
}

int fw_mptable_write(struct mem_space *space, uint64_t gpa, unsigned ncpus)
{
	uint8_t buf[MP_FPS_SIZE + MP_HDR_SIZE + FW_MPTABLE_MAX_CPUS * MP_CPU_SIZE +
		    MP_ENTRY_SIZE * (MP_ISA_IRQS + 3)];
	uint8_t *fps = buf, *hdr = buf + MP_FPS_SIZE, *p;
	uint8_t bda[2];
	uint8_t ioapic_id = (uint8_t)ncpus;
	size_t size = fw_mptable_size(ncpus);
	unsigned i, count = 0;
	int ret;

	if (!space || !ncpus || (gpa & 15))
		return -EINVAL;
	if (ncpus > FW_MPTABLE_MAX_CPUS || size > sizeof(buf))
		return -E2BIG;
	/* The floating pointer holds a 32-bit address, and the EBDA ends at 640K. */
	if (range_invalid(gpa, size) || gpa + size > PC_4G)
		return -E2BIG;
	if (gpa < PC_LOW_RAM_END && gpa + size > PC_LOW_RAM_END)
		return -E2BIG;

	memset(buf, 0, sizeof(buf));
	p = hdr + MP_HDR_SIZE;
	for (i = 0; i < ncpus; i++, count++) {
		p[0] = MP_ENT_PROCESSOR;
		p[1] = (uint8_t)i;
		p[2] = MP_LAPIC_VERSION;
		p[3] = MP_CPU_EN | (i == 0 ? MP_CPU_BP : 0);
		put_le32(p + 4, MP_CPU_SIGNATURE);
		put_le32(p + 8, MP_CPU_FEATURES);
		p += MP_CPU_SIZE;
	}
	p[0] = MP_ENT_BUS;
	p[1] = MP_ISA_BUS_ID;
	memcpy(p + 2, "ISA   ", 6);
	p += MP_ENTRY_SIZE;
	count++;

	p[0] = MP_ENT_IOAPIC;
	p[1] = ioapic_id;
	p[2] = MP_IOAPIC_VERSION;
	p[3] = MP_IOAPIC_EN;
	put_le32(p + 4, (uint32_t)PC_IOAPIC_BASE);
	p += MP_ENTRY_SIZE;
	count++;

	for (i = 0; i < MP_ISA_IRQS; i++) {
		if (i == 2)
			continue;
		p = mp_int_entry(p, MP_ENT_IOINT, MP_INT_INT, (uint8_t)i, ioapic_id,
				 (uint8_t)(i == 0 ? 2 : i));
		count++;
	}
	p = mp_int_entry(p, MP_ENT_LOCALINT, MP_INT_EXTINT, 0, MP_ALL_LAPICS, 0);
	p = mp_int_entry(p, MP_ENT_LOCALINT, MP_INT_NMI, 0, MP_ALL_LAPICS, 1);
	count += 2;

	memcpy(hdr, "PCMP", 4);
	put_le16(hdr + 4, (uint16_t)(p - hdr));   /* base table length */
	hdr[6] = MP_SPEC_REV;
	memcpy(hdr + 8, "VMM     ", 8);           /* OEM id */
	memcpy(hdr + 16, "VMM-PC      ", 12);     /* product id */
	put_le16(hdr + 34, (uint16_t)count);
	put_le32(hdr + 36, (uint32_t)PC_LAPIC_BASE);
	hdr[7] = mp_checksum(hdr, (size_t)(p - hdr));

	memcpy(fps, "_MP_", 4);
	put_le32(fps + 4, (uint32_t)(gpa + MP_FPS_SIZE));
	fps[8] = 1;                               /* length in 16-byte units */
	fps[9] = MP_SPEC_REV;
	/* feature bytes 0: a configuration table is present, virtual-wire mode (no IMCR) */
	fps[10] = mp_checksum(fps, MP_FPS_SIZE);

	/* One write: mem_write copies nothing unless the whole range is RAM. */
	ret = mem_write(space, gpa, buf, size);
	if (ret)
		return ret;
	/* A segment reaches only the first MiB: a table above it is found some other way. */
	if (gpa >= PC_HIGH_START)
		return 0;
	put_le16(bda, (uint16_t)(gpa >> 4));
	return mem_write(space, BDA_EBDA_SEG, bda, sizeof(bda));
}
