/*
 * devices/tap.h - a Linux tap interface as the host side of virtio-net.
 *
 * Contract
 * - Owns nothing: the fd returned by tap_open belongs to the caller, who
 *   closes it. tap_adopt_fd prepares a caller's inherited fd (--net fd=N)
 *   and never closes it.
 * - A ready tap fd is an Ethernet tap without packet information
 *   (IFF_TAP | IFF_NO_PI), with a 12-byte virtio-net header in front of
 *   every frame in both directions (IFF_VNET_HDR + TUNSETVNETHDRSZ 12: the
 *   virtio 1.x header, num_buffers included; the kernel fills the first 10
 *   bytes on read and skips the last 2), little-endian, O_NONBLOCK and
 *   close-on-exec (tap_open only: an adopted fd keeps its FD_CLOEXEC).
 *   IFF_ONE_QUEUE is not requested: current kernels accept and ignore it.
 * - Offloads (TUNSETOFFLOAD, TAP_OFFLOAD_*) say which partial-checksum and
 *   GSO frames the kernel may hand us to read; frames we write may carry
 *   them whatever is set. A tap starts with none. TSO needs CSUM.
 * - Errors: 0 or -errno (WUR), and a one-line reason in @err (when
 *   non-NULL), e.g. "cannot open /dev/net/tun: Permission denied (are you
 *   root?)". No state, so safe from any thread.
 */
#ifndef VMM_DEVICES_TAP_H
#define VMM_DEVICES_TAP_H

#include <stddef.h>

#include "common/compiler.h"

#define TAP_VNET_HDR_LEN   12
#define TAP_NAME_MAX       16      /* IFNAMSIZ, NUL included */

/* TUNSETOFFLOAD bits (the kernel's TUN_F_* values). */
#define TAP_OFFLOAD_CSUM   0x01u
#define TAP_OFFLOAD_TSO4   0x02u
#define TAP_OFFLOAD_TSO6   0x04u
#define TAP_OFFLOAD_ALL    (TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6)

/*
 * Create tap @name, or attach to the existing persistent one of that name
 * (NULL or "" lets the kernel pick "tapN"). *fd gets the ready fd;
 * @ifname (TAP_NAME_MAX bytes, may be NULL) the interface's name. The
 * interface is left as it is (not brought up, no address).
 * -EINVAL name too long or bad, -EPERM/-EACCES not allowed, -EBUSY in use,
 * -ENOTSUP the kernel has no vnet header support, other -errno.
 */
int tap_open(const char *name, int *fd, char *ifname, char *err, size_t errlen) WUR;

/*
 * Check that inherited @fd is a tap opened with IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR (those cannot be added later), then make it ready: header
 * size 12, little-endian headers, O_NONBLOCK. -EBADF not an open fd,
 * -EINVAL not a tap / missing flags. @ifname as for tap_open.
 */
int tap_adopt_fd(int fd, char *ifname, char *err, size_t errlen) WUR;

/* TUNSETOFFLOAD: @flags a mix of TAP_OFFLOAD_*; -EINVAL others / refused. */
int tap_set_offload(int fd, unsigned flags) WUR;

/*
 * Which TAP_OFFLOAD_* the tap accepts: CSUM alone, then CSUM with each
 * TSO. Leaves the tap with no offloads.
 */
unsigned tap_probe_offload(int fd);

#endif
