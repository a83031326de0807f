/*
 * vmm/kvm.h - ioctl helpers, in pairs as in the KVM selftests:
 * __kvm_ioctl() returns 0 or -errno; kvm_ioctl() also logs the failing
 * ioctl by name. Nothing here exits the process.
 */
#ifndef VMM_VMM_KVM_H
#define VMM_VMM_KVM_H

#include <errno.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "common/log.h"

static inline int __kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

#define kvm_ioctl(fd, req, arg)                                                  \
	({                                                                       \
		int __r = __kvm_ioctl((fd), (req), (void *)(arg));               \
		if (__r < 0)                                                     \
			log_error("%s failed: %s", #req, strerror(-__r));        \
		__r;                                                             \
	})

#endif
