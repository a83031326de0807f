/*
 * devices/tap.c - open and prepare a tap fd for virtio-net (see tap.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "devices/tap.h"

#define TAP_DEV "/dev/net/tun"

_Static_assert(TAP_NAME_MAX == IFNAMSIZ, "TAP_NAME_MAX is IFNAMSIZ");
_Static_assert(TAP_OFFLOAD_CSUM == TUN_F_CSUM && TAP_OFFLOAD_TSO4 == TUN_F_TSO4 &&
	       TAP_OFFLOAD_TSO6 == TUN_F_TSO6, "TAP_OFFLOAD_* are TUN_F_*");

static const char *tap_hint(int e)
{
	switch (e) {
	case EPERM:
	case EACCES:
		return " (are you root? CAP_NET_ADMIN is needed)";
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return " (is the tun module loaded?)";
	case EBUSY:
		return " (another process holds it, or it was made multi-queue)";
	default:
		return "";
	}
}

/*
 * Header size and byte order, then non-blocking. Virtio 1.x headers are
 * little-endian: the tap's default is the host's order, so only a
 * big-endian host needs TUNSETVNETLE.
 */
static int tap_ready(int fd, const char *what, char *err, size_t errlen)
{
	int sz = TAP_VNET_HDR_LEN;
	int fl;

	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
		int e = errno;

		errmsg(err, errlen, "%s: TUNSETVNETHDRSZ %d: %s", what, sz, strerror(e));
		return -e;
	}
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	{
		int le = 1;

		if (ioctl(fd, TUNSETVNETLE, &le) < 0) {
			int e = errno;

			errmsg(err, errlen, "%s: TUNSETVNETLE: %s", what, strerror(e));
			return -e;
		}
	}
#endif
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;

		errmsg(err, errlen, "%s: cannot make it non-blocking: %s", what, strerror(e));
		return -e;
	}
	return 0;
}

int tap_open(const char *name, int *fd, char *ifname, char *err, size_t errlen)
{
	struct ifreq ifr;
	unsigned features = 0;
	const char *shown = name && name[0] ? name : "(kernel-named)";
	int tfd, ret;

	*fd = -1;
	if (name && strlen(name) >= IFNAMSIZ) {
		errmsg(err, errlen, "tap name '%s' is longer than %d characters", name,
			IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (name && (strchr(name, '/') || strchr(name, ' ') || strchr(name, ':'))) {
		errmsg(err, errlen, "tap name '%s' is not a valid interface name", name);
		return -EINVAL;
	}
	tfd = open(TAP_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tfd < 0) {
		int e = errno;

		errmsg(err, errlen, "cannot open " TAP_DEV ": %s%s", strerror(e), tap_hint(e));
		return -e;
	}
	if (ioctl(tfd, TUNGETFEATURES, &features) == 0 && !(features & IFF_VNET_HDR)) {
		errmsg(err, errlen, "tap %s: the kernel has no IFF_VNET_HDR support", shown);
		ret = -ENOTSUP;
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (name)
		memcpy(ifr.ifr_name, name, strlen(name));       /* < IFNAMSIZ, checked */
	if (ioctl(tfd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		errmsg(err, errlen, "cannot create tap %s: %s%s", shown, strerror(e),
			tap_hint(e));
		ret = -e;
		goto fail;
	}
	ifr.ifr_name[IFNAMSIZ - 1] = '\0';
	ret = tap_ready(tfd, ifr.ifr_name, err, errlen);
	if (ret)
		goto fail;
	if (ifname)
		memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	*fd = tfd;
	return 0;
fail:
	close(tfd);
	return ret;
}

int tap_adopt_fd(int fd, char *ifname, char *err, size_t errlen)
{
	const short need = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	struct ifreq ifr;
	char what[40];

	snprintf(what, sizeof(what), "--net fd=%d", fd);
	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		errmsg(err, errlen, "%s: not an open file descriptor", what);
		return -EBADF;
	}
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		errmsg(err, errlen, "%s: not a tap device (TUNGETIFF: %s)", what,
			strerror(errno));
		return -EINVAL;
	}
	if ((ifr.ifr_flags & need) != need || (ifr.ifr_flags & IFF_TUN)) {
		errmsg(err, errlen,
			"%s: tap must be opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR (flags 0x%x)",
			what, (unsigned)(unsigned short)ifr.ifr_flags);
		return -EINVAL;
	}
	ifr.ifr_name[IFNAMSIZ - 1] = '\0';
	if (ifname)
		memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	return tap_ready(fd, what, err, errlen);
}

int tap_set_offload(int fd, unsigned flags)
{
	if (flags & ~TAP_OFFLOAD_ALL)
		return -EINVAL;
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0)
		return -errno;
	return 0;
}

unsigned tap_probe_offload(int fd)
{
	unsigned ok = 0;

	if (tap_set_offload(fd, TAP_OFFLOAD_CSUM) == 0) {
		ok |= TAP_OFFLOAD_CSUM;
		if (tap_set_offload(fd, TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4) == 0)
			ok |= TAP_OFFLOAD_TSO4;
		if (tap_set_offload(fd, TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO6) == 0)
			ok |= TAP_OFFLOAD_TSO6;
	}
	if (tap_set_offload(fd, 0) < 0)
		ok = 0; /* cannot clear what we set: report nothing usable */
	return ok;
}
