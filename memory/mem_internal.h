/*
 * memory/mem_internal.h - helpers shared by the files of memory/ only.
 *
 * Width-exact loads and stores for guest RAM reached through a trapped
 * access (mem_dispatch, the PAM write-only path). A RAM range may be a
 * device mapping (a BAR mmapped by vfio/), so an access of N bytes must stay
 * one access of N bytes (seed 02): never memcpy here. The aligned(1) types
 * make an unaligned guest address legal C; on x86 it is still one mov.
 */
#ifndef VMM_MEMORY_MEM_INTERNAL_H
#define VMM_MEMORY_MEM_INTERNAL_H

#include <stdint.h>

typedef uint16_t __attribute__((aligned(1), may_alias)) mem_u16_una;
typedef uint32_t __attribute__((aligned(1), may_alias)) mem_u32_una;
typedef uint64_t __attribute__((aligned(1), may_alias)) mem_u64_una;

/* @size is 1, 2, 4 or 8 (checked by the caller). */
static inline uint64_t mem_load_width(const void *p, unsigned size)
{
	switch (size) {
	case 1:
		return *(const volatile uint8_t *)p;
	case 2:
		return *(const volatile mem_u16_una *)p;
	case 4:
		return *(const volatile mem_u32_una *)p;
	default:
		return *(const volatile mem_u64_una *)p;
	}
}

static inline void mem_store_width(void *p, unsigned size, uint64_t v)
{
	switch (size) {
	case 1:
		*(volatile uint8_t *)p = (uint8_t)v;
		break;
	case 2:
		*(volatile mem_u16_una *)p = (uint16_t)v;
		break;
	case 4:
		*(volatile mem_u32_una *)p = (uint32_t)v;
		break;
	default:
		*(volatile mem_u64_una *)p = v;
		break;
	}
}

#endif
