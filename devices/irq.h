/*
 * devices/irq.h - how an interrupt reaches a device model.
 * vmm/ hands each device a struct irq_line backed by KVM_IRQ_LINE or an
 * irqfd, so devices/ never calls KVM. set_level(opaque, gsi, level) must be
 * callable from any thread.
 */
#ifndef VMM_DEVICES_IRQ_H
#define VMM_DEVICES_IRQ_H

struct irq_line {
	void (*set_level)(void *opaque, unsigned gsi, int level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l && l->set_level)
		l->set_level(l->opaque, l->gsi, level);
}

#endif
