/*
 * edu.bin - drives a passed-through QEMU "edu" device (1234:11e8) from a
 * firmware-style guest, for the VFIO rig (tests/rig/payload/run-l1-vfio.sh).
 *
 * It finds edu on bus 0, puts BAR0 (1 MiB) at EDU_BAR with memory decoding and
 * bus mastering on, and then checks, printing one line each:
 *   EDU-ID 010000ed                     the ID register
 *   EDU-WIDTH ok b=XX w=XXXX            liveness (0x04 reads ~value) at 4 bytes;
 *                                       1- and 2-byte reads must not return a
 *                                       byte of ~value (edu serves only 4-byte
 *                                       accesses below 0x80: a VMM that widened
 *                                       them would show it), and a 1-byte write
 *                                       must leave the register alone
 *   EDU-Q00 HHHHHHHHLLLLLLLL            one 8-byte read at 0x00 (MMX movq)
 *   EDU-Q80 HHHHHHHHLLLLLLLL            0x1122334455667788 written to 0x80 (DMA
 *                                       source, which takes 8-byte accesses) with
 *                                       one 8-byte store, read back with one load.
 *                                       The payload says what each mode must give:
 *                                       exact 8-byte accesses keep the whole value,
 *                                       x-split-qword keeps the low half only.
 *   EDU-DMA ok                          guest RAM above 1 MiB (RAM_A) to edu's
 *                                       buffer and back to RAM_B, data compared
 *   EDU-INTX ok irqs=2                  INTx pin A routed through the IOAPIC
 *                                       (level): raised twice through 0x60; the
 *                                       second arrives only if the first EOI's
 *                                       resample unmasked the line
 *   EDU-MSI ok irqs=2                   MSI programmed in the device's capability:
 *                                       one interrupt raised through 0x60, one at
 *                                       the end of a DMA (command bit 2), each
 *                                       taken by the LAPIC at MSI_VECTOR
 *   EDU-PAM-DMA ok transfers=N toggles=N (not with -DQUICK)
 *                                       seed 01: the PAM and SMRAM registers are
 *                                       rewritten for as long as each DMA runs, and
 *                                       every transfer's data is checked; rounds go
 *                                       on until MIN_TOGGLES writes were made
 *                                       during DMA (or MAX_ROUNDS)
 * then "EDU all ok" and debug-exit 0 (status 1). A failed check prints
 * "EDU-<check> FAIL ..." and debug-exits 2 (status 5).
 *
 * With -DBENCH=N it reads the ID register N times after EDU-ID and ends
 * ("EDU-BENCH done"): bench/vfio.sh times the trapped and mmapped paths.
 *
 * Runs in 32-bit protected mode at the firmware alias (PAM changes the 0xF0000
 * mirror under it), interrupts off except while waiting for an MSI.
 */
#include "lib.S"

#define EDU_BAR		0xC0000000	/* start of vmm's 32-bit PCI window */
#define EDU_VENDEV	0x11E81234
#define EDU_ID_VALUE	0x010000ED
#define R_ID		0x00
#define R_LIVE		0x04
#define R_IRQ_STATUS	0x24
#define R_IRQ_RAISE	0x60
#define R_IRQ_ACK	0x64
#define R_DMA_SRC	0x80
#define R_DMA_DST	0x88
#define R_DMA_CNT	0x90
#define R_DMA_CMD	0x98
#define DMA_RUN		1
#define DMA_TO_RAM	2
#define DMA_IRQ		4
#define EDU_BUF		0x40000		/* edu's DMA buffer, in its own address space */
#define DMA_LEN		4000		/* QEMU 7.2's edu stops QEMU on a full 4096 */
#define RAM_A		0x300000	/* 3 MiB */
#define RAM_B		0x400000	/* 4 MiB */
#define LIVE_VALUE	0x12345678	/* reads back as 0xEDCBA987 */
#define MSI_VECTOR	0x40
#define INTX_VECTOR	0x41
#define IOAPIC_BASE	0xFEC00000
#define IDT_BASE	0x8000		/* 256 gates, in RAM */
#define WAIT_SECONDS	10
#define MIN_TOGGLES	2048		/* PAM/SMRAM writes during DMA, at least... */
#define MAX_ROUNDS	400		/* ...unless this many rounds (two transfers each) end first */

#define IRQS		(SCRATCH + 0x00)
#define DEVFN		(SCRATCH + 0x04)	/* devfn << 8 */
#define TOGGLES		(SCRATCH + 0x08)
#define QWORD		(SCRATCH + 0x10)	/* 8 bytes, for movq */
#define MSICAP		(SCRATCH + 0x18)
#define IDT_DESC	(SCRATCH + 0x20)	/* limit:16, base:32 */
#define BYTE_READ	(SCRATCH + 0x30)
#define WORD_READ	(SCRATCH + 0x34)
#define INTXS		(SCRATCH + 0x38)

	START_PROT32_HI
	xor	%eax, %eax
	mov	%eax, IRQS
	mov	%eax, INTXS
	mov	%eax, TOGGLES

	/* ---- find edu on bus 0 and map BAR0 ---- */
	mov	$0x0800, %ebx			/* devfn 1.0 onwards */
1:	call	conf_read32
	cmp	$EDU_VENDEV, %eax
	je	2f
	add	$0x0800, %ebx
	cmp	$0x10000, %ebx
	jb	1b
	PRINTH	"EDU-FIND FAIL no 1234:11e8 on bus 0\n"
	DEBUG_EXIT_WITH 2
2:	mov	%ebx, DEVFN
	PRINTH	"EDU found at devfn "
	mov	%ebx, %eax
	shr	$8, %eax
	call	dec8_32
	PRINTH	"\n"
	mov	DEVFN, %ebx
	or	$0x10, %ebx			/* BAR0 */
	mov	$EDU_BAR, %eax
	call	conf_write32
	call	conf_read32
	and	$0xFFFFFFF0, %eax
	cmp	$EDU_BAR, %eax
	je	3f
	mov	%eax, %ebp
	PRINTH	"EDU-BAR FAIL BAR0 reads "
	mov	%ebp, %eax
	call	hex32_32
	PRINTH	"\n"
	DEBUG_EXIT_WITH 2
3:	mov	DEVFN, %ebx
	or	$0x04, %ebx			/* COMMAND: memory space, bus master */
	mov	$0x0006, %eax
	call	conf_write16

	/* ---- ID ---- */
	mov	EDU_BAR + R_ID, %ebp
	cmp	$EDU_ID_VALUE, %ebp
	je	4f
	PRINTH	"EDU-ID FAIL "
	mov	%ebp, %eax
	call	hex32_32
	PRINTH	"\n"
	DEBUG_EXIT_WITH 2
4:	PRINTH	"EDU-ID "
	mov	%ebp, %eax
	call	hex32_32
	PRINTH	"\n"
#ifdef BENCH
	/* bench/vfio.sh: BENCH reads of the ID register, then the end */
	mov	$BENCH, %ecx
5:	mov	EDU_BAR + R_ID, %eax
	dec	%ecx
	jnz	5b
	PRINTH	"EDU-BENCH done\n"
	DEBUG_EXIT_WITH 0
#endif

	/* ---- access widths on the liveness register ---- */
	movl	$LIVE_VALUE, EDU_BAR + R_LIVE
	mov	EDU_BAR + R_LIVE, %eax
	cmp	$~LIVE_VALUE, %eax
	jne	width_bad
	movzbl	EDU_BAR + R_LIVE, %eax
	mov	%eax, BYTE_READ
	cmp	$(~LIVE_VALUE & 0xFF), %eax
	je	width_bad
	movzwl	EDU_BAR + R_LIVE, %eax
	mov	%eax, WORD_READ
	cmp	$(~LIVE_VALUE & 0xFFFF), %eax
	je	width_bad
	movb	$0x55, EDU_BAR + R_LIVE		/* ignored by edu: not 4 bytes */
	mov	EDU_BAR + R_LIVE, %eax
	cmp	$~LIVE_VALUE, %eax
	jne	width_bad
	PRINTH	"EDU-WIDTH ok"
	call	print_widths

	/* ---- 8-byte accesses (MMX movq: one 8-byte load or store) ---- */
	mov	%cr0, %eax
	and	$~0x0C, %eax			/* EM and TS off: MMX usable */
	or	$0x02, %eax			/* MP */
	mov	%eax, %cr0
	movq	EDU_BAR + R_ID, %mm0
	movq	%mm0, QWORD
	PRINTH	"EDU-Q00 "
	call	print_qword
	movl	$0x55667788, QWORD
	movl	$0x11223344, QWORD + 4
	movq	QWORD, %mm0
	movq	%mm0, EDU_BAR + R_DMA_SRC
	movq	EDU_BAR + R_DMA_SRC, %mm1
	movq	%mm1, QWORD
	emms
	PRINTH	"EDU-Q80 "
	call	print_qword

	/* ---- DMA: RAM_A -> edu -> RAM_B ---- */
	mov	$0x5EED0001, %ebp
	call	dma_round
	jc	dma_bad
	PRINTH	"EDU-DMA ok\n"

	/* ---- INTx: two interrupts, the second only after the resample unmasked the line ---- */
	call	idt_setup
	xor	%eax, %eax
	call	ioapic_route
	sti
	movl	$1, EDU_BAR + R_IRQ_RAISE
	mov	$1, %ecx
	mov	$INTXS, %edi
	call	wait_irqs
	jc	intx_bad
	movl	$1, EDU_BAR + R_IRQ_RAISE
	mov	$2, %ecx
	mov	$INTXS, %edi
	call	wait_irqs
	jc	intx_bad
	cli
	mov	$1, %eax
	call	ioapic_route			/* masked again */
	PRINTH	"EDU-INTX ok irqs="
	mov	INTXS, %eax
	call	dec8_32
	PRINTH	"\n"

	/* ---- MSI ---- */
	call	msi_setup
	sti
	movl	$1, EDU_BAR + R_IRQ_RAISE
	mov	$1, %ecx
	mov	$IRQS, %edi
	call	wait_irqs
	jc	msi_bad
	/* a DMA to RAM that raises the interrupt when it ends */
	movl	$EDU_BUF, EDU_BAR + R_DMA_SRC
	movl	$RAM_B, EDU_BAR + R_DMA_DST
	movl	$DMA_LEN, EDU_BAR + R_DMA_CNT
	movl	$(DMA_RUN | DMA_TO_RAM | DMA_IRQ), EDU_BAR + R_DMA_CMD
	mov	$2, %ecx
	mov	$IRQS, %edi
	call	wait_irqs
	jc	msi_bad
	cli
	PRINTH	"EDU-MSI ok irqs="
	mov	IRQS, %eax
	call	dec8_32
	PRINTH	"\n"

#ifndef QUICK
	/* ---- seed 01: PAM and SMRAM rewritten during every DMA ---- */
	mov	$0x5EED0100, %ebp
5:	call	dma_round_toggling
	jc	pamdma_bad
	inc	%ebp
	cmpl	$MIN_TOGGLES, TOGGLES
	jae	7f
	cmp	$(0x5EED0100 + MAX_ROUNDS), %ebp
	jb	5b
7:	sub	$0x5EED0100, %ebp		/* rounds done */
	/* PAM back to power-on, SMRAM closed */
	mov	$0x90, %ebx
6:	xor	%eax, %eax
	call	conf_write8
	inc	%ebx
	cmp	$0x97, %ebx
	jb	6b
	mov	$0x9D, %ebx
	mov	$0x02, %eax
	call	conf_write8
	PRINTH	"EDU-PAM-DMA ok transfers="
	lea	(%ebp, %ebp), %eax
	call	dec32
	PRINTH	" toggles="
	mov	TOGGLES, %eax
	call	dec32
	PRINTH	"\n"
#endif
	PRINTH	"EDU all ok\n"
	DEBUG_EXIT_WITH 0

width_bad:
	PRINTH	"EDU-WIDTH FAIL dword="
	mov	EDU_BAR + R_LIVE, %eax
	call	hex32_32
	call	print_widths
	DEBUG_EXIT_WITH 2
dma_bad:
	PRINTH	"EDU-DMA FAIL "
	call	print_dma_error
	DEBUG_EXIT_WITH 2
pamdma_bad:
	PRINTH	"EDU-PAM-DMA FAIL "
	call	print_dma_error
	DEBUG_EXIT_WITH 2
intx_bad:
	cli
	PRINTH	"EDU-INTX FAIL irqs="
	mov	INTXS, %eax
	jmp	1f
msi_bad:
	cli
	PRINTH	"EDU-MSI FAIL irqs="
	mov	IRQS, %eax
1:	call	dec8_32
	PRINTH	" irq-status="
	mov	EDU_BAR + R_IRQ_STATUS, %eax
	call	hex32_32
	PRINTH	"\n"
	DEBUG_EXIT_WITH 2

/* After dma_round*: eax = 0 on a timeout, else the bad address (edx = what it held). */
print_dma_error:
	test	%eax, %eax
	jnz	1f
	PRINTH	"timeout, command="
	mov	EDU_BAR + R_DMA_CMD, %eax
	call	hex32_32
	PRINTH	"\n"
	ret
1:	push	%edx
	push	%eax
	PRINTH	"at "
	pop	%eax
	call	hex32_32
	PRINTH	" got "
	pop	%eax
	call	hex32_32
	PRINTH	"\n"
	ret

/* ---- DMA helpers ---- */

/*
 * One round with pattern seed ebp: RAM_A filled, RAM_A -> edu, RAM_B cleared,
 * edu -> RAM_B, RAM_B compared. CF set on failure, with eax = 0 (timeout) or
 * the first bad address and edx its value. dma_round_toggling rewrites
 * PAM/SMRAM while each transfer runs.
 */
dma_round:
	xor	%esi, %esi
	jmp	1f
dma_round_toggling:
	mov	$1, %esi
1:	mov	$RAM_A, %edi
2:	mov	%edi, %eax
	xor	%ebp, %eax
	mov	%eax, (%edi)
	add	$4, %edi
	cmp	$(RAM_A + DMA_LEN), %edi
	jb	2b
	movl	$RAM_A, EDU_BAR + R_DMA_SRC
	movl	$EDU_BUF, EDU_BAR + R_DMA_DST
	movl	$DMA_LEN, EDU_BAR + R_DMA_CNT
	movl	$DMA_RUN, EDU_BAR + R_DMA_CMD
	call	dma_wait
	jc	8f
	mov	$RAM_B, %edi
3:	movl	$0, (%edi)
	add	$4, %edi
	cmp	$(RAM_B + DMA_LEN + 64), %edi
	jb	3b
	movl	$EDU_BUF, EDU_BAR + R_DMA_SRC
	movl	$RAM_B, EDU_BAR + R_DMA_DST
	movl	$DMA_LEN, EDU_BAR + R_DMA_CNT
	movl	$(DMA_RUN | DMA_TO_RAM), EDU_BAR + R_DMA_CMD
	call	dma_wait
	jc	8f
	mov	$RAM_B, %edi
4:	mov	%edi, %eax
	sub	$(RAM_B - RAM_A), %eax
	xor	%ebp, %eax
	mov	(%edi), %edx
	cmp	%eax, %edx
	jne	7f
	add	$4, %edi
	cmp	$(RAM_B + DMA_LEN), %edi
	jb	4b
	/* nothing past the transfer */
5:	mov	(%edi), %edx
	test	%edx, %edx
	jnz	7f
	add	$4, %edi
	cmp	$(RAM_B + DMA_LEN + 64), %edi
	jb	5b
	clc
	ret
7:	mov	%edi, %eax
	stc
	ret
8:	xor	%eax, %eax
	stc
	ret

/*
 * Wait until the command register's RUN bit clears, at most WAIT_SECONDS by the
 * RTC; with esi != 0 one PAM/SMRAM write per poll. CF set on timeout. Keeps
 * ebp, esi, edi.
 */
dma_wait:
	push	%edi
	CMOS_READ 0x00
	mov	%al, %cl
	mov	$WAIT_SECONDS, %edi
1:	testl	$DMA_RUN, EDU_BAR + R_DMA_CMD
	jz	3f
	test	%esi, %esi
	jz	2f
	push	%ecx
	call	toggle
	pop	%ecx
2:	CMOS_READ 0x00
	cmp	%al, %cl
	je	1b
	mov	%al, %cl
	dec	%edi
	jnz	1b
	pop	%edi
	stc
	ret
3:	pop	%edi
	clc
	ret

/*
 * One PAM/SMRAM register write (the holes.S pattern): PAM0..PAM6 round robin
 * with rotating modes, SMRAM open/closed every 8th write, never D_LCK.
 * Clobbers eax, ebx, edx.
 */
toggle:
	mov	TOGGLES, %eax
	incl	TOGGLES
	mov	%eax, %edx
	and	$7, %eax
	cmp	$7, %eax
	je	1f
	lea	0x90(%eax), %ebx		/* PAM0 + n */
	mov	%edx, %eax
	shr	$3, %eax
	and	$3, %eax
	imul	$0x11, %eax, %eax
	jmp	conf_write8
1:	mov	$0x9D, %ebx
	mov	%edx, %eax
	shr	$3, %eax
	and	$1, %eax
	shl	$6, %eax			/* D_OPEN every other time */
	or	$0x0A, %eax			/* G_SMRAME | C_BASE_SEG */
	jmp	conf_write8

/* ---- MSI ---- */

/* The IDT: every gate to bad_isr, MSI_VECTOR and INTX_VECTOR to their handlers, the
   spurious vector to an iret; the LAPIC software-enabled. */
idt_setup:
	mov	$IDT_BASE, %edi
	mov	$HI(bad_isr), %eax
	mov	$256, %ecx
4:	call	set_gate
	add	$8, %edi
	dec	%ecx
	jnz	4b
	mov	$(IDT_BASE + 8 * MSI_VECTOR), %edi
	mov	$HI(msi_isr), %eax
	call	set_gate
	mov	$(IDT_BASE + 8 * INTX_VECTOR), %edi
	mov	$HI(intx_isr), %eax
	call	set_gate
	mov	$(IDT_BASE + 8 * 0xFF), %edi
	mov	$HI(spurious_isr), %eax
	call	set_gate
	movw	$(256 * 8 - 1), IDT_DESC
	movl	$IDT_BASE, IDT_DESC + 2
	lidt	IDT_DESC
	movl	$0x1FF, LAPIC_SVR		/* enabled, spurious vector 0xFF */
	movl	$0, LAPIC_BASE + 0x80		/* TPR */
	ret

/*
 * INTx pin A of edu through the IOAPIC: GSI 16 + (slot % 4) (the swizzle vmm's _PRT
 * gives), level-triggered, to INTX_VECTOR on APIC 0; eax = 0 unmasks, 1 masks.
 * Clobbers eax, ecx, edx.
 */
ioapic_route:
	mov	%eax, %edx
	shl	$16, %edx			/* mask bit */
	or	$(INTX_VECTOR | 0x8000), %edx	/* fixed, physical, active high, level */
	mov	DEVFN, %ecx
	shr	$11, %ecx			/* slot */
	and	$3, %ecx
	add	$16, %ecx			/* GSI */
	shl	$1, %ecx
	add	$0x10, %ecx			/* redirection entry, low dword */
	mov	%ecx, IOAPIC_BASE
	mov	%edx, IOAPIC_BASE + 0x10
	inc	%ecx
	mov	%ecx, IOAPIC_BASE
	movl	$0, IOAPIC_BASE + 0x10		/* destination APIC 0 */
	ret

/* Find the MSI capability, point it at the LAPIC with MSI_VECTOR, enable it. */
msi_setup:
	mov	DEVFN, %ebx
	or	$0x34, %ebx
	call	conf_read8
	movzbl	%al, %ecx
1:	and	$0xFC, %ecx
	jz	no_msi
	mov	DEVFN, %ebx
	or	%ecx, %ebx
	call	conf_read8
	cmp	$0x05, %al
	je	2f
	inc	%ebx
	call	conf_read8
	movzbl	%al, %ecx
	jmp	1b
2:	mov	%ebx, MSICAP
	add	$4, %ebx
	mov	$LAPIC_BASE, %eax		/* destination APIC 0, fixed */
	call	conf_write32
	mov	MSICAP, %ebx
	add	$2, %ebx
	call	conf_read16
	mov	MSICAP, %ebx
	add	$8, %ebx
	test	$0x80, %al			/* 64-bit address: data at +0xC */
	jz	3f
	xor	%eax, %eax
	call	conf_write32
	mov	MSICAP, %ebx
	add	$0xC, %ebx
3:	mov	$MSI_VECTOR, %eax
	call	conf_write16
	mov	MSICAP, %ebx
	add	$2, %ebx
	call	conf_read16
	and	$~0x70, %eax			/* one vector */
	or	$1, %eax			/* MSI enable */
	call	conf_write16

	ret
no_msi:
	PRINTH	"EDU-MSI FAIL no MSI capability\n"
	DEBUG_EXIT_WITH 2

/* A 32-bit interrupt gate at edi for the handler at eax. Clobbers edx. */
set_gate:
	mov	%eax, %edx
	and	$0xFFFF, %edx
	or	$(SEL_CODE32 << 16), %edx
	mov	%edx, (%edi)
	mov	%eax, %edx
	and	$0xFFFF0000, %edx
	or	$0x8E00, %edx
	mov	%edx, 4(%edi)
	ret

/* Wait with interrupts on until the dword at edi (IRQS) >= ecx, at most WAIT_SECONDS; CF set on timeout. */
	RTC_WAIT_FUNC wait_irqs, "cmp (%edi), %ecx", jbe, WAIT_SECONDS

msi_isr:
	push	%eax
	incl	IRQS
	mov	EDU_BAR + R_IRQ_STATUS, %eax
	mov	%eax, EDU_BAR + R_IRQ_ACK
	movl	$0, LAPIC_BASE + 0xB0		/* EOI */
	pop	%eax
	iret

intx_isr:
	push	%eax
	incl	INTXS
	mov	EDU_BAR + R_IRQ_STATUS, %eax
	mov	%eax, EDU_BAR + R_IRQ_ACK	/* edu lowers the line */
	movl	$0, LAPIC_BASE + 0xB0		/* EOI: the IOAPIC's EOI, then the resample */
	pop	%eax
	iret

spurious_isr:
	iret

bad_isr:
	PRINTH	"EDU FAIL unexpected interrupt or exception\n"
	DEBUG_EXIT_WITH 2

/* ---- printing ---- */

/* " b=XX w=XXXX" from BYTE_READ, WORD_READ, and a newline. */
print_widths:
	PRINTH	" b="
	mov	BYTE_READ, %eax
	call	hex8
	PRINTH	" w="
	mov	WORD_READ, %eax
	call	hex16
	PRINTH	"\n"
	ret

/* QWORD as 16 hex digits, high half first, and a newline. */
print_qword:
	mov	QWORD + 4, %eax
	call	hex32_32
	mov	QWORD, %eax
	call	hex32_32
	PRINTH	"\n"
	ret

/* eax in decimal. Clobbers eax, ebx, ecx, edx, edi. */
dec32:
	mov	$10, %ebx
	xor	%ecx, %ecx
1:	xor	%edx, %edx
	div	%ebx
	push	%edx
	inc	%ecx
	test	%eax, %eax
	jnz	1b
2:	pop	%eax
	add	$0x30, %al
	mov	%ecx, %edi
	call	putc_32				/* clobbers ax, cx, dx */
	mov	%edi, %ecx
	dec	%ecx
	jnz	2b
	ret

/* al / ax as 2 / 4 hex digits (lib.S's digit loop). */
hex8:
	shl	$24, %eax
	mov	%eax, %ebx
	mov	$2, %edi
	jmp	hexdigits_32
hex16:
	shl	$16, %eax
	mov	%eax, %ebx
	mov	$4, %edi
	jmp	hexdigits_32

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	CONF_FUNCS
	GDT
	GDT_HI
