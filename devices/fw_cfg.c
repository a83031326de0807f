/*
 * devices/fw_cfg.c - QEMU-compatible fw_cfg on x86 ports (see fw_cfg.h for
 * the contract). Semantics from QEMU's docs/specs/fw_cfg.rst.
 *
 * All state sits under one mutex: the selector/offset pair is shared by
 * every vCPU, and a DMA transfer must see a consistent item. DMA never
 * calls a device (it only touches RAM through the memory engine), so
 * holding the lock across it cannot deadlock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "devices/fw_cfg.h"

#define FW_CFG_WRITE_CHANNEL 0x4000 /* selector bit 14: ignored since QEMU 2.4 */
#define FW_CFG_DIR_ENTRY     64     /* BE32 size, BE16 select, BE16 reserved, name[56] */
#define FW_CFG_DMA_STRUCT    16     /* BE32 control, BE32 length, BE64 address */
#define FW_CFG_DMA_CHUNK     (64 * KiB)
#define FW_CFG_ZERO_CHUNK    (4 * KiB)

/* What the guest is looking at: an item's bytes, or nothing. */
struct fw_cfg_view {
	uint8_t *data;
	uint32_t len;
	bool writable;
};

static const uint8_t fw_cfg_zeros[FW_CFG_ZERO_CHUNK];

/* Keys as stored: the write-channel bit is not part of an item's identity. */
static uint16_t fw_cfg_canon(uint16_t key)
{
	return key & (uint16_t)~FW_CFG_WRITE_CHANNEL;
}

/* Caller holds the lock (or owns the device exclusively). */
static struct fw_cfg_item *fw_cfg_find(struct fw_cfg *fw, uint16_t key)
{
	unsigned i;

	for (i = 0; i < fw->nr_items; i++)
		if (fw->items[i].key == key)
			return &fw->items[i];
	return NULL;
}

static struct fw_cfg_view fw_cfg_lookup(struct fw_cfg *fw, uint16_t key)
{
	struct fw_cfg_view v = { NULL, 0, false };
	const struct fw_cfg_item *it;

	key = fw_cfg_canon(key);
	if (key == FW_CFG_FILE_DIR) {
		v.data = fw->dir;
		v.len = fw->dir_len;
		return v;
	}
	it = fw_cfg_find(fw, key);
	if (it) {
		v.data = it->data;
		v.len = it->len;
		v.writable = it->flags & FW_CFG_F_WRITABLE;
	}
	return v;
}

static void fw_cfg_select(struct fw_cfg *fw, uint16_t key)
{
	fw->cur_key = key;
	fw->cur_off = 0;
}

/* ---- items ----------------------------------------------------------------- */

static int fw_cfg_dir_cmp(const void *a, const void *b)
{
	const struct fw_cfg_item *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Build the directory for the files in items[]; replaces fw->dir only on success. */
static int fw_cfg_rebuild_dir(struct fw_cfg *fw)
{
	const struct fw_cfg_item *files[FW_CFG_MAX_ITEMS];
	unsigned i, n = 0;
	uint32_t len;
	uint8_t *dir;

	for (i = 0; i < fw->nr_items; i++)
		if (fw->items[i].key >= FW_CFG_FILE_FIRST &&
		    fw->items[i].key < FW_CFG_FILE_FIRST + FW_CFG_FILE_SLOTS)
			files[n++] = &fw->items[i];
	qsort(files, n, sizeof(files[0]), fw_cfg_dir_cmp);

	len = 4 + n * FW_CFG_DIR_ENTRY;
	dir = calloc(1, len);
	if (!dir)
		return -ENOMEM;
	put_be32(dir, n);
	for (i = 0; i < n; i++) {
		uint8_t *e = dir + 4 + i * FW_CFG_DIR_ENTRY;

		put_be32(e, files[i]->len);
		put_be16(e + 4, files[i]->key);
		/* e + 6: reserved, zero; the name is NUL-padded by calloc. */
		memcpy(e + 8, files[i]->name, strlen(files[i]->name));
	}
	free(fw->dir);
	fw->dir = dir;
	fw->dir_len = len;
	return 0;
}

/* Append an item (caller holds the lock and has checked the key). */
static int fw_cfg_append(struct fw_cfg *fw, uint16_t key, const void *data, uint32_t len,
			 uint32_t flags, const char *name)
{
	struct fw_cfg_item *it;
	uint8_t *copy = NULL;

	if (len && !data)
		return -EINVAL;
	if (fw->nr_items >= FW_CFG_MAX_ITEMS)
		return -ENOSPC;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	it = &fw->items[fw->nr_items++];
	memset(it, 0, sizeof(*it));
	it->key = key;
	it->flags = flags;
	it->data = copy;
	it->len = len;
	if (name)
		memcpy(it->name, name, strlen(name) + 1);
	return 0;
}

static void fw_cfg_drop_last(struct fw_cfg *fw)
{
	struct fw_cfg_item *it = &fw->items[--fw->nr_items];

	free(it->data);
	memset(it, 0, sizeof(*it));
}

static bool fw_cfg_fixed_key_ok(uint16_t key)
{
	if (key & FW_CFG_WRITE_CHANNEL)
		return false;
	if (key & FW_CFG_ARCH_LOCAL)
		return key != FW_CFG_INVALID;
	return key < FW_CFG_FILE_FIRST;
}

int fw_cfg_add_bytes(struct fw_cfg *fw, uint16_t key, const void *data, uint32_t len)
{
	int rc;

	if (!fw_cfg_fixed_key_ok(key) || (len && !data))
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	if (key == FW_CFG_FILE_DIR || fw_cfg_find(fw, key))
		rc = -EEXIST;
	else
		rc = fw_cfg_append(fw, key, data, len, 0, NULL);
	pthread_mutex_unlock(&fw->lock);
	return rc;
}

int fw_cfg_add_i16(struct fw_cfg *fw, uint16_t key, uint16_t v)
{
	uint8_t b[2];

	put_le16(b, v);
	return fw_cfg_add_bytes(fw, key, b, sizeof(b));
}

int fw_cfg_add_i32(struct fw_cfg *fw, uint16_t key, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	return fw_cfg_add_bytes(fw, key, b, sizeof(b));
}

int fw_cfg_add_i64(struct fw_cfg *fw, uint16_t key, uint64_t v)
{
	uint8_t b[8];

	put_le64(b, v);
	return fw_cfg_add_bytes(fw, key, b, sizeof(b));
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len,
		    uint32_t flags, uint16_t *key_out)
{
	uint16_t key;
	size_t nlen;
	unsigned i;
	int rc;

	if (!name || (len && !data) || (flags & ~(uint32_t)FW_CFG_F_WRITABLE))
		return -EINVAL;
	nlen = strnlen(name, FW_CFG_MAX_FILE_PATH);
	if (nlen == 0)
		return -EINVAL;
	if (nlen >= FW_CFG_MAX_FILE_PATH)
		return -ENAMETOOLONG; /* the directory needs room for the NUL */

	pthread_mutex_lock(&fw->lock);
	for (i = 0; i < fw->nr_items; i++) {
		if (fw->items[i].name[0] && !strcmp(fw->items[i].name, name)) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (fw->nr_files >= FW_CFG_FILE_SLOTS) {
		rc = -ENOSPC;
		goto out;
	}
	key = (uint16_t)(FW_CFG_FILE_FIRST + fw->nr_files);
	rc = fw_cfg_append(fw, key, data, len, flags, name);
	if (rc)
		goto out;
	rc = fw_cfg_rebuild_dir(fw);
	if (rc) {
		fw_cfg_drop_last(fw);
		goto out;
	}
	fw->nr_files++;
	if (key_out)
		*key_out = key;
out:
	pthread_mutex_unlock(&fw->lock);
	return rc;
}

int fw_cfg_get(struct fw_cfg *fw, uint16_t key, const uint8_t **data, uint32_t *len)
{
	const struct fw_cfg_item *it;
	int rc = 0;

	pthread_mutex_lock(&fw->lock);
	key = fw_cfg_canon(key);
	if (key == FW_CFG_FILE_DIR) {
		*data = fw->dir;
		*len = fw->dir_len;
	} else if ((it = fw_cfg_find(fw, key))) {
		*data = it->data;
		*len = it->len;
	} else {
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&fw->lock);
	return rc;
}

void fw_cfg_reset(struct fw_cfg *fw)
{
	pthread_mutex_lock(&fw->lock);
	fw_cfg_select(fw, FW_CFG_SIGNATURE);
	fw->dma_addr = 0;
	pthread_mutex_unlock(&fw->lock);
}

/* ---- DMA ------------------------------------------------------------------- */

/*
 * [gpa, gpa+len) is all RAM the guest may write. mem_write() alone would
 * also write read-only ranges (ROM, write-protected shadow BIOS), which the
 * VMM may do but a device must not.
 */
static bool fw_cfg_ram_writable(struct mem_space *s, uint64_t gpa, uint64_t len)
{
	struct mem_flat_view *v;
	bool ok = true;

	if (range_invalid(gpa, len))
		return false;
	v = mem_view_get(s);
	while (len) {
		const struct mem_flat_range *fr = mem_view_find(v, gpa);
		uint64_t n;

		if (!fr || !mem_range_is_ram(fr) || fr->readonly) {
			ok = false;
			break;
		}
		n = fr->size - (gpa - fr->gpa);
		if (n > len)
			n = len;
		gpa += n;
		len -= n;
	}
	mem_flat_view_put(v);
	return ok;
}

static int fw_cfg_dma_store(struct mem_space *s, uint64_t gpa, const void *buf, uint64_t len)
{
	if (!fw_cfg_ram_writable(s, gpa, len))
		return -EFAULT;
	return mem_write(s, gpa, buf, len);
}

enum fw_cfg_dma_op { FW_CFG_OP_NONE, FW_CFG_OP_READ, FW_CFG_OP_WRITE, FW_CFG_OP_SKIP };

/* Item -> guest, zeros past the item's end. Returns 0 or -EFAULT. */
static int fw_cfg_dma_read(struct fw_cfg *fw, uint64_t addr, uint32_t length)
{
	struct fw_cfg_view v = fw_cfg_lookup(fw, fw->cur_key);

	while (length) {
		uint32_t n;
		int rc;

		if (v.data && fw->cur_off < v.len) {
			n = v.len - fw->cur_off;
			if (n > length)
				n = length;
			if (n > FW_CFG_DMA_CHUNK)
				n = FW_CFG_DMA_CHUNK;
			rc = fw_cfg_dma_store(fw->dma_space, addr, v.data + fw->cur_off, n);
			if (rc)
				return rc;
			fw->cur_off += n;
		} else {
			/* Page-aligned chunks: zeros reach exactly the end of a RAM range. */
			n = FW_CFG_ZERO_CHUNK - (uint32_t)(addr & (FW_CFG_ZERO_CHUNK - 1));
			if (n > length)
				n = length;
			rc = fw_cfg_dma_store(fw->dma_space, addr, fw_cfg_zeros, n);
			if (rc)
				return rc;
		}
		addr += n;
		length -= n;
	}
	return 0;
}

/* Guest -> item; the whole range must lie in a writable item, all or nothing. */
static int fw_cfg_dma_write(struct fw_cfg *fw, uint64_t addr, uint32_t length)
{
	struct fw_cfg_view v = fw_cfg_lookup(fw, fw->cur_key);
	int rc;

	if (!v.writable || !v.data || fw->cur_off >= v.len || length > v.len - fw->cur_off)
		return -EPERM;
	/* Bounded by the item's size, which the host chose; mem_read copies all or nothing. */
	rc = mem_read(fw->dma_space, addr, v.data + fw->cur_off, length);
	if (rc)
		return rc;
	fw->cur_off += length;
	return 0;
}

static void fw_cfg_dma_skip(struct fw_cfg *fw, uint32_t length)
{
	struct fw_cfg_view v = fw_cfg_lookup(fw, fw->cur_key);

	/* Past the end the offset stays put: later reads see zeros either way. */
	if (fw->cur_off < v.len)
		fw->cur_off += length < v.len - fw->cur_off ? length : v.len - fw->cur_off;
}

/* Run the transfer described at guest address @desc. Caller holds the lock. */
static void fw_cfg_dma_run(struct fw_cfg *fw, uint64_t desc)
{
	uint8_t raw[FW_CFG_DMA_STRUCT], out[4];
	uint32_t control, length;
	uint64_t addr;
	enum fw_cfg_dma_op op;
	int rc = 0;

	if (!fw->dma_space)
		return;
	/* The control word is written back: the struct must be writable RAM. */
	if (!fw_cfg_ram_writable(fw->dma_space, desc, sizeof(raw)) ||
	    mem_read(fw->dma_space, desc, raw, sizeof(raw))) {
		fw->dma_errors++;
		return;
	}
	control = get_be32(raw);
	length = get_be32(raw + 4);
	addr = get_be64(raw + 8);

	if (control & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(fw, (uint16_t)(control >> 16));

	if (control & FW_CFG_DMA_CTL_READ)
		op = FW_CFG_OP_READ;
	else if (control & FW_CFG_DMA_CTL_WRITE)
		op = FW_CFG_OP_WRITE;
	else if (control & FW_CFG_DMA_CTL_SKIP)
		op = FW_CFG_OP_SKIP;
	else
		op = FW_CFG_OP_NONE;

	if (length && (op == FW_CFG_OP_READ || op == FW_CFG_OP_WRITE) &&
	    range_invalid(addr, length)) {
		rc = -EFAULT;
	} else if (length) {
		switch (op) {
		case FW_CFG_OP_READ:
			rc = fw_cfg_dma_read(fw, addr, length);
			break;
		case FW_CFG_OP_WRITE:
			rc = fw_cfg_dma_write(fw, addr, length);
			break;
		case FW_CFG_OP_SKIP:
			fw_cfg_dma_skip(fw, length);
			break;
		case FW_CFG_OP_NONE:
			break;
		}
	}

	if (rc)
		fw->dma_errors++;
	put_be32(out, rc ? FW_CFG_DMA_CTL_ERROR : 0);
	/* Checked writable above; the view may have changed since, then the guest gets nothing. */
	if (fw_cfg_dma_store(fw->dma_space, desc, out, sizeof(out)))
		fw->dma_errors++;
}

/* ---- ports ----------------------------------------------------------------- */

static int fw_cfg_ctl_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct fw_cfg *fw = opaque;
	struct fw_cfg_view v;

	if (off != 1 || size != 1)
		return -EINVAL; /* the selector is write-only; the data port is 8-bit */
	pthread_mutex_lock(&fw->lock);
	v = fw_cfg_lookup(fw, fw->cur_key);
	if (v.data && fw->cur_off < v.len)
		*val = v.data[fw->cur_off++];
	else
		*val = 0;
	pthread_mutex_unlock(&fw->lock);
	return 0;
}

static int fw_cfg_ctl_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct fw_cfg *fw = opaque;

	if (off == 0 && size == 2) {
		pthread_mutex_lock(&fw->lock);
		fw_cfg_select(fw, (uint16_t)val);
		pthread_mutex_unlock(&fw->lock);
		return 0;
	}
	if (off == 1 && size == 1)
		return 0; /* data port writes are no-ops since QEMU 2.4 */
	return -EINVAL;
}

const struct access_ops fw_cfg_ctl_ops = {
	.read = fw_cfg_ctl_read,
	.write = fw_cfg_ctl_write,
	.min_size = 1,
	.max_size = 2,
};

static int fw_cfg_dma_port_read(void *opaque, uint64_t off, unsigned size, uint64_t *val)
{
	struct fw_cfg *fw = opaque;
	uint64_t v = 0;
	unsigned i;

	if (!fw->dma_space || off >= FW_CFG_DMA_LEN || size > FW_CFG_DMA_LEN - off)
		return -EINVAL;
	/* Byte i of the register is byte i of "QEMU CFG"; the port value is little-endian. */
	for (i = 0; i < size; i++)
		v |= ((FW_CFG_DMA_SIGNATURE >> (8 * (7 - (off + i)))) & 0xff) << (8 * i);
	*val = v;
	return 0;
}

static int fw_cfg_dma_port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct fw_cfg *fw = opaque;
	int rc = 0;

	if (!fw->dma_space)
		return -EINVAL;
	pthread_mutex_lock(&fw->lock);
	if (off == 0 && size == 4) {
		fw->dma_addr = (uint64_t)__builtin_bswap32((uint32_t)val) << 32;
	} else if (off == 4 && size == 4) {
		uint64_t desc = (fw->dma_addr & ~0xffffffffULL) | __builtin_bswap32((uint32_t)val);

		fw->dma_addr = 0;
		fw_cfg_dma_run(fw, desc);
	} else if (off == 0 && size == 8) {
		fw->dma_addr = 0;
		fw_cfg_dma_run(fw, __builtin_bswap64(val));
	} else {
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&fw->lock);
	return rc;
}

const struct access_ops fw_cfg_dma_ops = {
	.read = fw_cfg_dma_port_read,
	.write = fw_cfg_dma_port_write,
	.min_size = 1,
	.max_size = 8,
};

/* ---- life cycle ------------------------------------------------------------ */

int fw_cfg_init(struct fw_cfg *fw, struct mem_space *dma_space)
{
	static const uint8_t sig[4] = { 'Q', 'E', 'M', 'U' };
	int rc;

	memset(fw, 0, sizeof(*fw));
	rc = -pthread_mutex_init(&fw->lock, NULL);
	if (rc)
		return rc;
	fw->ready = true;
	fw->dma_space = dma_space;

	rc = fw_cfg_add_bytes(fw, FW_CFG_SIGNATURE, sig, sizeof(sig));
	if (rc)
		goto fail;
	rc = fw_cfg_add_i32(fw, FW_CFG_ID,
			    FW_CFG_VERSION | (dma_space ? FW_CFG_VERSION_DMA : 0));
	if (rc)
		goto fail;
	rc = fw_cfg_rebuild_dir(fw); /* count 0 */
	if (rc)
		goto fail;
	fw_cfg_select(fw, FW_CFG_SIGNATURE);
	return 0;
fail:
	fw_cfg_destroy(fw);
	return rc;
}

void fw_cfg_destroy(struct fw_cfg *fw)
{
	unsigned i;

	for (i = 0; i < fw->nr_items && i < FW_CFG_MAX_ITEMS; i++) {
		free(fw->items[i].data);
		fw->items[i].data = NULL;
	}
	fw->nr_items = 0;
	fw->nr_files = 0;
	free(fw->dir);
	fw->dir = NULL;
	fw->dir_len = 0;
	if (fw->ready)
		pthread_mutex_destroy(&fw->lock);
	fw->ready = false;
}

int fw_cfg_register(struct fw_cfg *fw, struct iobus *bus)
{
	int rc, urc;

	rc = iobus_register(bus, FW_CFG_CTL_PORT, FW_CFG_CTL_LEN, &fw_cfg_ctl_ops, fw, "fw_cfg");
	if (rc)
		return rc;
	if (!fw->dma_space)
		return 0; /* no DMA interface: the port stays unclaimed, as in QEMU */
	rc = iobus_register(bus, FW_CFG_DMA_PORT, FW_CFG_DMA_LEN, &fw_cfg_dma_ops, fw,
			    "fw_cfg-dma");
	if (rc)
		goto unreg_ctl;
	return 0;
unreg_ctl:
	/* Cannot fail: the range was registered just above with this opaque. */
	urc = iobus_unregister(bus, FW_CFG_CTL_PORT, fw);
	(void)urc;
	return rc;
}
