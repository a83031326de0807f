/*
 * firmware/aml.h - a small ACPI Machine Language (AML) encoder and the
 * growable byte buffer the ACPI table builder writes into.
 *
 * Contract
 * - One struct aml_buf per table under construction, owned by the caller
 *   (no globals). aml_init() leaves it empty; aml_free() releases it and is
 *   safe on a zeroed or already-freed buffer.
 * - Errors are sticky: every emitter returns void; the first failure
 *   (-ENOMEM, or -EINVAL for a bad name, an out-of-range value, an
 *   unbalanced aml_end() or a block nested deeper than AML_MAX_DEPTH) is
 *   kept in the buffer, later calls do nothing, and aml_finish() (WUR)
 *   reports it. So a builder is straight-line code with one check at the end.
 * - Blocks that carry a PkgLength (Scope, Device, Method, Package, Buffer)
 *   are opened with aml_*_begin() and closed with aml_end(); the PkgLength
 *   (1 to 4 bytes, ACPI 6.5 section 20.2.4) is computed and inserted at close,
 *   and a Buffer's BufferSize as well.
 * - Names: "\\_SB.PCI0", "^FOO", "_HID". Each segment is 1-4 characters
 *   ([A-Z_] then [A-Z0-9_]), padded with '_' to 4 as ASL does.
 * - Integers take the shortest encoding (ZeroOp, OneOp, Byte/Word/DWord/
 *   QWordPrefix); aml_eisaid() always uses DWordPrefix (SeaBIOS's DSDT
 *   parser matches _HID by those exact bytes).
 * - Resource descriptors (ACPI 6.5 section 6.4) append raw bytes: call them
 *   between aml_buffer_begin() and aml_end(), finished by aml_res_end_tag().
 */
#ifndef VMM_FIRMWARE_AML_H
#define VMM_FIRMWARE_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#define AML_MAX_DEPTH 16
/* PkgLength can describe at most 2^28 - 1 bytes (28 bits in 4 bytes). */
#define AML_PKGLENGTH_MAX 0x0FFFFFFFu

/* Opcodes used by the encoder (ACPI 6.5 section 20.3), exposed for tests. */
#define AML_ZERO_OP        0x00
#define AML_ONE_OP         0x01
#define AML_NAME_OP        0x08
#define AML_BYTE_PREFIX    0x0A
#define AML_WORD_PREFIX    0x0B
#define AML_DWORD_PREFIX   0x0C
#define AML_STRING_PREFIX  0x0D
#define AML_QWORD_PREFIX   0x0E
#define AML_SCOPE_OP       0x10
#define AML_BUFFER_OP      0x11
#define AML_PACKAGE_OP     0x12
#define AML_METHOD_OP      0x14
#define AML_DUAL_NAME      0x2E
#define AML_MULTI_NAME     0x2F
#define AML_EXT_PREFIX     0x5B
#define AML_DEVICE_OP      0x82  /* after AML_EXT_PREFIX */
#define AML_ROOT_CHAR      0x5C
#define AML_PARENT_CHAR    0x5E
#define AML_RETURN_OP      0xA4

/* Address space descriptor flags (ACPI 6.5 section 6.4.3.5). */
#define AML_RES_MEM_NONCACHEABLE 0
#define AML_RES_MEM_CACHEABLE    1

enum aml_block { AML_BLK_SCOPE, AML_BLK_DEVICE, AML_BLK_METHOD, AML_BLK_PACKAGE,
		 AML_BLK_BUFFER };

struct aml_buf {
	uint8_t *data;
	size_t len, cap;
	int err;                          /* sticky: 0 or the first -errno */
	unsigned depth;
	struct {
		size_t mark;              /* where the PkgLength goes */
		enum aml_block kind;
	} stack[AML_MAX_DEPTH];
};

void aml_init(struct aml_buf *b);
void aml_free(struct aml_buf *b);
/* 0, or the first error; -EINVAL also when a block is still open. */
int aml_finish(const struct aml_buf *b) WUR;

/* Raw little-endian appends (table fields, resource descriptors). */
void aml_bytes(struct aml_buf *b, const void *p, size_t n);
void aml_u8(struct aml_buf *b, uint8_t v);
void aml_u16(struct aml_buf *b, uint16_t v);
void aml_u32(struct aml_buf *b, uint32_t v);
void aml_u64(struct aml_buf *b, uint64_t v);
/* Zero bytes until len is a multiple of @align (a power of two). */
void aml_pad(struct aml_buf *b, size_t align);

/*
 * PkgLength for a payload of @payload bytes (the bytes after the PkgLength
 * itself): writes 1-4 bytes to @out and returns how many; 0 when the
 * payload plus its PkgLength would exceed AML_PKGLENGTH_MAX.
 */
unsigned aml_pkglength_encode(size_t payload, uint8_t out[4]);

/* Data objects. */
void aml_namestring(struct aml_buf *b, const char *path);
void aml_integer(struct aml_buf *b, uint64_t v);
void aml_string(struct aml_buf *b, const char *s);     /* ASCII 0x01-0x7F */
void aml_eisaid(struct aml_buf *b, const char *id);    /* "PNP0A08": 3 letters, 4 hex digits */

/* Name(path, <next object>): the caller emits the value right after. */
void aml_name(struct aml_buf *b, const char *path);
/* Shorthands for Name(path, Integer) / Name(path, EISAID(id)). */
void aml_name_int(struct aml_buf *b, const char *path, uint64_t v);
void aml_name_eisaid(struct aml_buf *b, const char *path, const char *id);

void aml_scope_begin(struct aml_buf *b, const char *path);
void aml_device_begin(struct aml_buf *b, const char *path);
/* @nargs 0..7; NotSerialized, SyncLevel 0. */
void aml_method_begin(struct aml_buf *b, const char *path, unsigned nargs);
/* @nelems 0..255 top-level elements the caller then emits. */
void aml_package_begin(struct aml_buf *b, unsigned nelems);
void aml_buffer_begin(struct aml_buf *b);
void aml_end(struct aml_buf *b);

/* Return(<next object>): the caller emits the value right after. */
void aml_return(struct aml_buf *b);

/* Resource descriptors. Ranges are inclusive [min, max]; min <= max. */
void aml_res_word_bus(struct aml_buf *b, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml_buf *b, uint16_t min, uint16_t max);
void aml_res_dword_mem(struct aml_buf *b, unsigned cache, uint32_t min, uint32_t max);
void aml_res_qword_mem(struct aml_buf *b, unsigned cache, uint64_t min, uint64_t max);
/* IO(Decode16, min, max, align, len) */
void aml_res_io(struct aml_buf *b, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags(){irq}, irq 0..15 */
void aml_res_irq_noflags(struct aml_buf *b, unsigned irq);
/* EndTag, checksum 0 ("treat as correct"). */
void aml_res_end_tag(struct aml_buf *b);

#endif
