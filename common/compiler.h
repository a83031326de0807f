/*
 * common/compiler.h - attributes and small helpers every layer uses.
 * Contract: header only, no state. Functions that can fail return int
 * (0 or -errno) and carry WUR so a caller cannot drop the error.
 */
#ifndef VMM_COMMON_COMPILER_H
#define VMM_COMMON_COMPILER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define WUR __attribute__((warn_unused_result))
#define UNUSED __attribute__((unused))
#define PRINTF_FMT(a, b) __attribute__((format(printf, a, b)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define TiB (1024ULL * GiB)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* true when [base, base+len) wraps or is empty: every range check starts here. */
static inline bool range_invalid(uint64_t base, uint64_t len)
{
	return len == 0 || base + len < base;
}

/* true when [a, a+alen) and [b, b+blen) overlap; both ranges must be valid. */
static inline bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* true when [inner, inner+ilen) lies inside [outer, outer+olen), without overflow. */
static inline bool range_within(uint64_t inner, uint64_t ilen, uint64_t outer, uint64_t olen)
{
	return inner >= outer && ilen <= olen && inner - outer <= olen - ilen;
}

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static inline uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

#endif
