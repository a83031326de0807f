/*
 * firmware/aml.c - AML encoder (see aml.h for the contract).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "firmware/aml.h"

/* Resource descriptor tags (ACPI 6.5 section 6.4). */
#define RES_IRQ_NOFLAGS  0x22  /* small item 0x04, 2 bytes */
#define RES_IO           0x47  /* small item 0x08, 7 bytes */
#define RES_END_TAG      0x79  /* small item 0x0F, 1 byte */
#define RES_DWORD_ADDR   0x87
#define RES_WORD_ADDR    0x88
#define RES_QWORD_ADDR   0x8A
#define RES_TYPE_MEM     0
#define RES_TYPE_IO      1
#define RES_TYPE_BUS     2
/* General flags: _MAF | _MIF, positive decode, producer (bit 0 clear). */
#define RES_GEN_PRODUCER_FIXED 0x0C
#define RES_IO_ENTIRE_RANGE    0x03
#define RES_MEM_RW             0x01

static void aml_fail(struct aml_buf *b, int err)
{
	if (!b->err)
		b->err = err;
}

void aml_init(struct aml_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void aml_free(struct aml_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->depth = 0;
}

int aml_finish(const struct aml_buf *b)
{
	if (b->err)
		return b->err;
	return b->depth ? -EINVAL : 0;
}

/* Make room for @n more bytes; false (and a sticky error) when impossible. */
static bool aml_reserve(struct aml_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->err)
		return false;
	if (n > SIZE_MAX / 2 - b->len) {
		aml_fail(b, -ENOMEM);
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		aml_fail(b, -ENOMEM);
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void aml_bytes(struct aml_buf *b, const void *p, size_t n)
{
	if (!n || !aml_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void aml_u8(struct aml_buf *b, uint8_t v)
{
	aml_bytes(b, &v, 1);
}

void aml_u16(struct aml_buf *b, uint16_t v)
{
	uint8_t p[2];

	put_le16(p, v);
	aml_bytes(b, p, sizeof(p));
}

void aml_u32(struct aml_buf *b, uint32_t v)
{
	aml_u16(b, (uint16_t)v);
	aml_u16(b, (uint16_t)(v >> 16));
}

void aml_u64(struct aml_buf *b, uint64_t v)
{
	aml_u32(b, (uint32_t)v);
	aml_u32(b, (uint32_t)(v >> 32));
}

void aml_pad(struct aml_buf *b, size_t align)
{
	static const uint8_t zeros[64];
	size_t n;

	if (!align || (align & (align - 1)) || align > sizeof(zeros)) {
		aml_fail(b, -EINVAL);
		return;
	}
	n = (align - (b->len & (align - 1))) & (align - 1);
	aml_bytes(b, zeros, n);
}

/* Insert @n bytes at @pos (pos <= len), shifting the tail. */
static void aml_insert(struct aml_buf *b, size_t pos, const uint8_t *p, size_t n)
{
	if (!n || !aml_reserve(b, n))
		return;
	memmove(b->data + pos + n, b->data + pos, b->len - pos);
	memcpy(b->data + pos, p, n);
	b->len += n;
}

unsigned aml_pkglength_encode(size_t payload, uint8_t out[4])
{
	unsigned k;
	size_t total;

	/*
	 * The PkgLength counts its own bytes. One byte holds 6 bits; n > 1
	 * bytes hold 4 bits in the lead byte plus 8 per following byte.
	 */
	if (payload <= 0x3F - 1) {
		out[0] = (uint8_t)(payload + 1);
		return 1;
	}
	if (payload <= 0xFFF - 2)
		k = 2;
	else if (payload <= 0xFFFFF - 3)
		k = 3;
	else if (payload <= AML_PKGLENGTH_MAX - 4)
		k = 4;
	else
		return 0;
	total = payload + k;
	out[0] = (uint8_t)(((k - 1) << 6) | (total & 0x0F));
	out[1] = (uint8_t)(total >> 4);
	if (k > 2)
		out[2] = (uint8_t)(total >> 12);
	if (k > 3)
		out[3] = (uint8_t)(total >> 20);
	return k;
}

/* ---- names --------------------------------------------------------------- */

static bool aml_lead_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool aml_name_ok(char c)
{
	return aml_lead_ok(c) || (c >= '0' && c <= '9');
}

void aml_namestring(struct aml_buf *b, const char *path)
{
	uint8_t segs[255][4];
	unsigned nseg = 0, i;
	const char *p = path;

	if (!path) {
		aml_fail(b, -EINVAL);
		return;
	}
	if (*p == '\\') {
		aml_u8(b, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_u8(b, AML_PARENT_CHAR);
			p++;
		}
	}
	while (*p) {
		unsigned n = 0;

		if (nseg == ARRAY_SIZE(segs) || !aml_lead_ok(*p)) {
			aml_fail(b, -EINVAL);
			return;
		}
		while (p[n] && p[n] != '.') {
			if (n == 4 || !aml_name_ok(p[n])) {
				aml_fail(b, -EINVAL);
				return;
			}
			segs[nseg][n] = (uint8_t)p[n];
			n++;
		}
		for (i = n; i < 4; i++)
			segs[nseg][i] = '_';
		nseg++;
		p += n;
		if (*p == '.') {
			p++;
			if (!*p) {            /* trailing dot */
				aml_fail(b, -EINVAL);
				return;
			}
		}
	}
	if (nseg == 0) {
		aml_u8(b, 0x00);              /* NullName */
	} else if (nseg == 2) {
		aml_u8(b, AML_DUAL_NAME);
	} else if (nseg > 2) {
		aml_u8(b, AML_MULTI_NAME);
		aml_u8(b, (uint8_t)nseg);
	}
	for (i = 0; i < nseg; i++)
		aml_bytes(b, segs[i], 4);
}

/* ---- data objects -------------------------------------------------------- */

void aml_integer(struct aml_buf *b, uint64_t v)
{
	if (v == 0) {
		aml_u8(b, AML_ZERO_OP);
	} else if (v == 1) {
		aml_u8(b, AML_ONE_OP);
	} else if (v <= 0xFF) {
		aml_u8(b, AML_BYTE_PREFIX);
		aml_u8(b, (uint8_t)v);
	} else if (v <= 0xFFFF) {
		aml_u8(b, AML_WORD_PREFIX);
		aml_u16(b, (uint16_t)v);
	} else if (v <= 0xFFFFFFFF) {
		aml_u8(b, AML_DWORD_PREFIX);
		aml_u32(b, (uint32_t)v);
	} else {
		aml_u8(b, AML_QWORD_PREFIX);
		aml_u64(b, v);
	}
}

void aml_string(struct aml_buf *b, const char *s)
{
	const char *p;

	if (!s) {
		aml_fail(b, -EINVAL);
		return;
	}
	for (p = s; *p; p++) {
		if ((unsigned char)*p > 0x7F) {
			aml_fail(b, -EINVAL);
			return;
		}
	}
	aml_u8(b, AML_STRING_PREFIX);
	aml_bytes(b, s, (size_t)(p - s) + 1);
}

static int aml_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml_buf *b, const char *id)
{
	uint8_t out[4];
	int h[4];
	unsigned i;

	/* Three letters in 5 bits each (A = 1), then four hex digits. */
	if (!id || strlen(id) != 7) {
		aml_fail(b, -EINVAL);
		return;
	}
	for (i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			aml_fail(b, -EINVAL);
			return;
		}
	}
	for (i = 0; i < 4; i++) {
		h[i] = aml_hex(id[3 + i]);
		if (h[i] < 0) {
			aml_fail(b, -EINVAL);
			return;
		}
	}
	out[0] = (uint8_t)(((id[0] - 0x40) << 2) | ((id[1] - 0x40) >> 3));
	out[1] = (uint8_t)((((id[1] - 0x40) & 7) << 5) | (id[2] - 0x40));
	out[2] = (uint8_t)(h[0] << 4 | h[1]);
	out[3] = (uint8_t)(h[2] << 4 | h[3]);
	aml_u8(b, AML_DWORD_PREFIX);
	aml_bytes(b, out, sizeof(out));
}

void aml_name(struct aml_buf *b, const char *path)
{
	aml_u8(b, AML_NAME_OP);
	aml_namestring(b, path);
}

void aml_name_int(struct aml_buf *b, const char *path, uint64_t v)
{
	aml_name(b, path);
	aml_integer(b, v);
}

void aml_name_eisaid(struct aml_buf *b, const char *path, const char *id)
{
	aml_name(b, path);
	aml_eisaid(b, id);
}

void aml_return(struct aml_buf *b)
{
	aml_u8(b, AML_RETURN_OP);
}

/* ---- blocks -------------------------------------------------------------- */

static void aml_push(struct aml_buf *b, enum aml_block kind)
{
	if (b->err)
		return;
	if (b->depth == AML_MAX_DEPTH) {
		aml_fail(b, -EINVAL);
		return;
	}
	b->stack[b->depth].mark = b->len;
	b->stack[b->depth].kind = kind;
	b->depth++;
}

void aml_scope_begin(struct aml_buf *b, const char *path)
{
	aml_u8(b, AML_SCOPE_OP);
	aml_push(b, AML_BLK_SCOPE);
	aml_namestring(b, path);
}

void aml_device_begin(struct aml_buf *b, const char *path)
{
	aml_u8(b, AML_EXT_PREFIX);
	aml_u8(b, AML_DEVICE_OP);
	aml_push(b, AML_BLK_DEVICE);
	aml_namestring(b, path);
}

void aml_method_begin(struct aml_buf *b, const char *path, unsigned nargs)
{
	if (nargs > 7) {
		aml_fail(b, -EINVAL);
		return;
	}
	aml_u8(b, AML_METHOD_OP);
	aml_push(b, AML_BLK_METHOD);
	aml_namestring(b, path);
	aml_u8(b, (uint8_t)nargs);    /* MethodFlags: NotSerialized, SyncLevel 0 */
}

void aml_package_begin(struct aml_buf *b, unsigned nelems)
{
	if (nelems > 255) {
		aml_fail(b, -EINVAL);
		return;
	}
	aml_u8(b, AML_PACKAGE_OP);
	aml_push(b, AML_BLK_PACKAGE);
	aml_u8(b, (uint8_t)nelems);
}

void aml_buffer_begin(struct aml_buf *b)
{
	aml_u8(b, AML_BUFFER_OP);
	aml_push(b, AML_BLK_BUFFER);
}

void aml_end(struct aml_buf *b)
{
	uint8_t pre[4 + 9];
	struct aml_buf sz;
	size_t mark, payload;
	unsigned k, n = 0;

	if (b->err)
		return;
	if (!b->depth) {
		aml_fail(b, -EINVAL);
		return;
	}
	b->depth--;
	mark = b->stack[b->depth].mark;
	payload = b->len - mark;
	aml_init(&sz);
	if (b->stack[b->depth].kind == AML_BLK_BUFFER) {
		/* BufferSize (a TermArg integer) sits between PkgLength and the bytes. */
		aml_integer(&sz, payload);
		if (sz.err) {
			aml_fail(b, sz.err);
			aml_free(&sz);
			return;
		}
		payload += sz.len;
	}
	k = aml_pkglength_encode(payload, pre);
	if (!k) {
		aml_fail(b, -EINVAL);
		aml_free(&sz);
		return;
	}
	n = k;
	if (sz.len) {
		memcpy(pre + k, sz.data, sz.len);
		n += (unsigned)sz.len;
	}
	aml_free(&sz);
	aml_insert(b, mark, pre, n);
}

/* ---- resource descriptors ------------------------------------------------ */

static void aml_check_range(struct aml_buf *b, uint64_t min, uint64_t max)
{
	if (min > max)
		aml_fail(b, -EINVAL);
}

void aml_res_word_bus(struct aml_buf *b, uint16_t min, uint16_t max)
{
	aml_check_range(b, min, max);
	aml_u8(b, RES_WORD_ADDR);
	aml_u16(b, 13);
	aml_u8(b, RES_TYPE_BUS);
	aml_u8(b, RES_GEN_PRODUCER_FIXED);
	aml_u8(b, 0);
	aml_u16(b, 0);                          /* granularity */
	aml_u16(b, min);
	aml_u16(b, max);
	aml_u16(b, 0);                          /* translation */
	aml_u16(b, (uint16_t)(max - min + 1));  /* 0x10000 cannot be expressed: wraps to 0 */
}

void aml_res_word_io(struct aml_buf *b, uint16_t min, uint16_t max)
{
	aml_check_range(b, min, max);
	if (min == 0 && max == 0xFFFF)
		aml_fail(b, -EINVAL);           /* length 0x10000 does not fit a word */
	aml_u8(b, RES_WORD_ADDR);
	aml_u16(b, 13);
	aml_u8(b, RES_TYPE_IO);
	aml_u8(b, RES_GEN_PRODUCER_FIXED);
	aml_u8(b, RES_IO_ENTIRE_RANGE);
	aml_u16(b, 0);
	aml_u16(b, min);
	aml_u16(b, max);
	aml_u16(b, 0);
	aml_u16(b, (uint16_t)(max - min + 1));
}

void aml_res_dword_mem(struct aml_buf *b, unsigned cache, uint32_t min, uint32_t max)
{
	aml_check_range(b, min, max);
	if (cache > 3 || (min == 0 && max == UINT32_MAX))
		aml_fail(b, -EINVAL);
	aml_u8(b, RES_DWORD_ADDR);
	aml_u16(b, 23);
	aml_u8(b, RES_TYPE_MEM);
	aml_u8(b, RES_GEN_PRODUCER_FIXED);
	aml_u8(b, (uint8_t)(RES_MEM_RW | (cache << 1)));
	aml_u32(b, 0);
	aml_u32(b, min);
	aml_u32(b, max);
	aml_u32(b, 0);
	aml_u32(b, max - min + 1);
}

void aml_res_qword_mem(struct aml_buf *b, unsigned cache, uint64_t min, uint64_t max)
{
	aml_check_range(b, min, max);
	if (cache > 3 || (min == 0 && max == UINT64_MAX))
		aml_fail(b, -EINVAL);
	aml_u8(b, RES_QWORD_ADDR);
	aml_u16(b, 43);
	aml_u8(b, RES_TYPE_MEM);
	aml_u8(b, RES_GEN_PRODUCER_FIXED);
	aml_u8(b, (uint8_t)(RES_MEM_RW | (cache << 1)));
	aml_u64(b, 0);
	aml_u64(b, min);
	aml_u64(b, max);
	aml_u64(b, 0);
	aml_u64(b, max - min + 1);
}

void aml_res_io(struct aml_buf *b, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	aml_check_range(b, min, max);
	aml_u8(b, RES_IO);
	aml_u8(b, 0x01);                        /* Decode16 */
	aml_u16(b, min);
	aml_u16(b, max);
	aml_u8(b, align);
	aml_u8(b, len);
}

void aml_res_irq_noflags(struct aml_buf *b, unsigned irq)
{
	if (irq > 15) {
		aml_fail(b, -EINVAL);
		return;
	}
	aml_u8(b, RES_IRQ_NOFLAGS);
	aml_u16(b, (uint16_t)(1u << irq));
}

void aml_res_end_tag(struct aml_buf *b)
{
	aml_u8(b, RES_END_TAG);
	aml_u8(b, 0);
}
