/*
 * common/mmio.h - width-exact accessors for device memory (seed 02).
 * Each is exactly one volatile load or store of the named width: the
 * compiler may not split, merge or widen it, unlike memcpy. Device memory
 * (a mmapped BAR) is touched only through these.
 */
#ifndef VMM_COMMON_MMIO_H
#define VMM_COMMON_MMIO_H

#include <errno.h>
#include <stdint.h>

static inline uint8_t mmio_read8(const void *p) { return *(const volatile uint8_t *)p; }
static inline uint16_t mmio_read16(const void *p) { return *(const volatile uint16_t *)p; }
static inline uint32_t mmio_read32(const void *p) { return *(const volatile uint32_t *)p; }
static inline uint64_t mmio_read64(const void *p) { return *(const volatile uint64_t *)p; }
static inline void mmio_write8(void *p, uint8_t v) { *(volatile uint8_t *)p = v; }
static inline void mmio_write16(void *p, uint16_t v) { *(volatile uint16_t *)p = v; }
static inline void mmio_write32(void *p, uint32_t v) { *(volatile uint32_t *)p = v; }
static inline void mmio_write64(void *p, uint64_t v) { *(volatile uint64_t *)p = v; }

/* One access of @size (1, 2, 4 or 8) bytes; -EINVAL for another size. */
static inline int mmio_read(const void *p, unsigned size, uint64_t *val)
{
	switch (size) {
	case 1: *val = mmio_read8(p); return 0;
	case 2: *val = mmio_read16(p); return 0;
	case 4: *val = mmio_read32(p); return 0;
	case 8: *val = mmio_read64(p); return 0;
	}
	return -EINVAL;
}

static inline int mmio_write(void *p, unsigned size, uint64_t val)
{
	switch (size) {
	case 1: mmio_write8(p, (uint8_t)val); return 0;
	case 2: mmio_write16(p, (uint16_t)val); return 0;
	case 4: mmio_write32(p, (uint32_t)val); return 0;
	case 8: mmio_write64(p, val); return 0;
	}
	return -EINVAL;
}

#endif
