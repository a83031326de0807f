/*
 * devices/debugport.h - the small ports firmware and test guests talk to:
 *   0x402  debugcon (QEMU-compatible): each byte written goes to an fd
 *          (-1 discards, see devices/fdout.h); reads return 0xE9.
 *   0x501  isa-debug-exit (QEMU semantics): a write of v (1, 2 or 4 bytes)
 *          calls exit(opaque, (v << 1) | 1): v=0 -> 1, 1 -> 3, 0x7f -> 255.
 *          Reads return all-ones.
 *   0x80   POST code: writes are remembered (debugport_post_code()), reads
 *          return all-ones.
 *   0xCF9  ICH9 reset control register: SYS_RST (bit 1) and FULL_RST (bit 3)
 *          choose the kind of reset; RST_CPU (bit 2) going 0 -> 1 starts it,
 *          which here calls reset(opaque) whatever the kind (the VMM has one
 *          reset: it exits). RST_CPU clears itself once the reset has been
 *          requested, so reads return the last SYS_RST/FULL_RST bits.
 *
 * Contract
 * - One struct debugport the caller owns; each port has its own ops with
 *   opaque = the struct debugport. debugport_register() claims all four
 *   ports below on a bus (all or none); a caller may instead register them
 *   one by one:
 *     iobus_register(bus, DEBUGPORT_CON_PORT, DEBUGPORT_CON_LEN,
 *                    &debugport_con_ops, d, "debugcon");
 *   and likewise DEBUGPORT_EXIT_* with debugport_exit_ops, DEBUGPORT_POST_*
 *   with debugport_post_ops, DEBUGPORT_RCR_* with debugport_rcr_ops.
 * - debug-exit claims 4 bytes (QEMU's iosize is 2): QEMU cuts a 4-byte
 *   access at the end of its 2-byte region and still exits, but the iobus
 *   refuses accesses that run past a range, so an outl to 0x501 needs the
 *   range to cover it. The status is the same, as only its low 8 bits reach
 *   the process exit code and they depend only on v's low 7 bits.
 * - 0xCF9 lies inside the PCI CONFIG_ADDRESS dword (0xCF8-0xCFB) and the
 *   iobus forbids overlap: after debugport_register(), a 4-byte claim of
 *   0xCF8 fails with -EEXIST. Once a PCI host owns 0xCF8-0xCFB, register
 *   the other three ports one by one and have the host hand byte accesses
 *   at 0xCF9 to debugport_rcr_ops (offset 0, size 1).
 * - Callbacks run on the vCPU thread, outside the device lock; either may be
 *   NULL (the event is then ignored). Thread-safe: an internal mutex.
 */
#ifndef VMM_DEVICES_DEBUGPORT_H
#define VMM_DEVICES_DEBUGPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/access.h"
#include "common/compiler.h"
#include "devices/fdout.h"
#include "devices/iobus.h"

#define DEBUGPORT_CON_PORT   0x402
#define DEBUGPORT_CON_LEN    1
#define DEBUGPORT_CON_READBACK 0xE9
#define DEBUGPORT_EXIT_PORT  0x501
#define DEBUGPORT_EXIT_LEN   4
#define DEBUGPORT_POST_PORT  0x80
#define DEBUGPORT_POST_LEN   1
#define DEBUGPORT_RCR_PORT   0xCF9
#define DEBUGPORT_RCR_LEN    1

struct debugport {
	pthread_mutex_t lock;
	bool ready;
	struct fdout con;
	void (*reset)(void *opaque);
	void (*exit)(void *opaque, int status);
	void *opaque;
	uint8_t post;                /* last POST code */
	uint8_t rcr;                 /* SYS_RST / FULL_RST as last written */
};

extern const struct access_ops debugport_con_ops;
extern const struct access_ops debugport_exit_ops;
extern const struct access_ops debugport_post_ops;
extern const struct access_ops debugport_rcr_ops;

/* @con_fd: debugcon output (-1 discards); it stays the caller's fd. */
int debugport_init(struct debugport *d, int con_fd, void (*reset_fn)(void *opaque),
		   void (*exit_fn)(void *opaque, int status), void *opaque) WUR;
void debugport_destroy(struct debugport *d);

/* Register 0x402, 0x501, 0x80 and 0xCF9 on @bus; on failure none stays registered. */
int debugport_register(struct debugport *d, struct iobus *bus) WUR;

/* The last value written to port 0x80. */
uint8_t debugport_post_code(struct debugport *d);

#endif
