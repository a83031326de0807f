/*
 * tests/guests/lib.S - what the firmware-style test guests share.
 *
 * Contract
 * - An image is 128 KiB (guest.ld): the smallest firmware vmm accepts. Like a PC BIOS
 *   it ends at 4 GiB (0xFFFE0000-0xFFFFFFFF) and is mirrored at 0xE0000-0xFFFFF.
 *   Code and data sit in the upper 64 KiB, which is linked at 0: real-mode code, at
 *   F000:xxxx with DS = CS = F000, reaches a label x as x. Protected and long mode
 *   use flat segments, where x is at the linear address A(x) = 0xF0000 + x. (Linked
 *   at 0xF0000, a 16-bit field would have no room for the ELF32 REL addend.)
 * - Section .ap starts at 0xF0000, where a SIPI with vector 0xF0 starts an AP.
 *   RESET_VECTOR puts the reset-vector far jump at 0xFFFF0.
 * - The ROM is read-only: nothing here writes to it. The GDT descriptors have their
 *   accessed bit preset so that loading a segment does not write the GDT either.
 * - Reports go to COM1 (polled, no IRQ) and end with the isa-debug-exit port 0x501
 *   (exit status (v << 1) | 1); debugcon (0x402) gets only what a test checks there.
 * - IO_FUNCS instantiates the helpers for one CPU mode (16, 32 or 64). Their source
 *   is the same in every mode: no push/pop, and strings through lodsb, which uses
 *   ds:si, esi or rsi as the mode says. They clobber the registers listed at each.
 * - RAM the guests use (all below 640 KiB): SCRATCH for SMP state, AP_STACK,
 *   STACK_TOP, and the long-mode page tables at PT_BASE.
 * - Keep loops short: on the host's emulating /dev/kvm a guest runs about one
 *   million instructions a second. Do not use int3, xrstor or cmpxchg16b (the
 *   emulator there cannot run them).
 */

#define CS_BASE     0xF0000         /* real-mode CS = F000 after the reset-vector jump */
#define A(x)        ((x) + CS_BASE) /* a label as a flat (linear) address */
#define TOP_ALIAS   0xFFF00000      /* add to a low-mirror address: its alias below 4 GiB */
#define HI(x)       (A(x) + TOP_ALIAS) /* a label at the firmware alias below 4 GiB */

#define COM1        0x3F8
#define COM1_IER    (COM1 + 1)
#define COM1_FCR    (COM1 + 2)
#define COM1_LCR    (COM1 + 3)
#define COM1_MCR    (COM1 + 4)
#define COM1_LSR    (COM1 + 5)
#define LSR_THRE    0x20
#define DEBUGCON    0x402
#define DEBUG_EXIT  0x501
#define CONF_ADDR   0xCF8           /* PCI configuration mechanism #1 */
#define CONF_DATA   0xCFC
#define CMOS_INDEX  0x70
#define CMOS_DATA   0x71

#define SEL_CODE32  0x08
#define SEL_DATA    0x10
#define SEL_CODE64  0x18

#define SCRATCH     0x500           /* SMP lock and counter */
#define AP_STACK    0x6000          /* one stack for all APs: used only under the lock */
#define STACK_TOP   0x7000
#define PT_BASE     0x10000         /* PML4, PDPT, PD: three 4 KiB pages */

#define LAPIC_BASE  0xFEE00000
#define LAPIC_ID    (LAPIC_BASE + 0x020)
#define LAPIC_SVR   (LAPIC_BASE + 0x0F0)
#define LAPIC_ICR_LO (LAPIC_BASE + 0x300)
#define LAPIC_ICR_HI (LAPIC_BASE + 0x310)
#define ICR_INIT    0x000C4500      /* all excluding self, assert, INIT */
#define ICR_SIPI    0x000C4600      /* all excluding self, assert, STARTUP; | vector */
#define ICR_BUSY    0x1000          /* delivery status: send pending */
#define SIPI_VECTOR 0xF0            /* APs start at 0xF0000 = F000:0000, section .ap */

/* ---------------------------------------------------------------------------------- */

/* The reset vector: F000:FFF0 jumps to \target (real mode, in the upper 64 KiB). */
.macro RESET_VECTOR target
	.pushsection .reset, "ax"
	.code16
	.globl reset_vector
reset_vector:
	ljmp	$0xF000, $\target
	.popsection
.endm

/* First thing after reset: no interrupts, a stack in RAM, DS = ES = CS, COM1 set up. */
.macro REAL_INIT
	.code16
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ss
	mov	$STACK_TOP, %sp
	mov	%cs, %ax
	mov	%ax, %ds
	mov	%ax, %es
	call	uart_init_16
.endm

/*
 * PROT32_SWITCH desc, base, target: real mode to flat 32-bit protected mode with
 * the GDT descriptor \desc, jumping to \target linked at offset \base (CS_BASE for
 * the low mirror, HI_BASE for the alias below 4 GiB); DS, ES, SS loaded.
 */
#define HI_BASE     0xFFFF0000      /* CS_BASE + TOP_ALIAS: HI(x) = x + HI_BASE */
.macro PROT32_SWITCH desc, base, target
	.code16
	lgdtl	%cs:\desc
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$SEL_CODE32, $(\target + \base)
	.code32
\target:
	mov	$SEL_DATA, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
.endm

/* Real mode to 32-bit protected mode, flat, no paging; continues at \target. */
.macro ENTER_PROT32 target
	PROT32_SWITCH gdt_desc, CS_BASE, \target
	mov	%ax, %fs
	mov	%ax, %gs
	mov	$STACK_TOP, %esp
.endm

/*
 * 32-bit protected mode to long mode; continues at \target in 64-bit code.
 * The page tables go to RAM (the ROM is read-only): 2 MiB pages identity-map
 * the first 1 GiB, which holds the code (low mirror), the stack and the RAM test.
 */
.macro ENTER_LONG64 target
	.code32
	mov	$PT_BASE, %edi
	xor	%eax, %eax
	mov	$(3 * 4096 / 4), %ecx
	rep stosl
	movl	$(PT_BASE + 0x1000 + 3), PT_BASE
	movl	$(PT_BASE + 0x2000 + 3), PT_BASE + 0x1000
	mov	$(PT_BASE + 0x2000), %edi
	mov	$0x83, %eax		/* present, writable, 2 MiB page */
	mov	$512, %ecx
9001:	mov	%eax, (%edi)
	add	$0x200000, %eax
	add	$8, %edi
	dec	%ecx
	jnz	9001b
	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$PT_BASE, %eax
	mov	%eax, %cr3
	mov	$0xC0000080, %ecx	/* EFER */
	rdmsr
	or	$0x100, %eax		/* LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* PG: long mode becomes active */
	mov	%eax, %cr0
	ljmp	$SEL_CODE64, $A(\target)
	.code64
\target:
	mov	$STACK_TOP, %esp
.endm

/* The GDT, in ROM. Accessed bits preset (0x9B, 0x93): the CPU must not write it. */
.macro GDT
	.pushsection .rodata
	.balign 8
gdt:	.quad	0
	.quad	0x00CF9B000000FFFF	/* 0x08 code, 32-bit, flat */
	.quad	0x00CF93000000FFFF	/* 0x10 data, flat */
	.quad	0x00AF9B000000FFFF	/* 0x18 code, 64-bit */
gdt_end:
	.balign 4
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	A(gdt)
	.popsection
.endm

/*
 * Guests that reprogram PAM run from the firmware alias below 4 GiB, never
 * from the 0xF0000 mirror that PAM changes under them:
 *   ENTER_PROT32_HI target  real mode to flat protected mode at HI(target)
 *                           (segments loaded; the caller sets esp);
 *   PRINTH text             PRINT32 with the string read at the alias;
 *   GDT_HI                  the GDT descriptor pointing at the alias (with GDT);
 *   CONF_FUNCS              conf_read8/16/32, conf_write8/16/32 on bus 0 (32-bit).
 */
.macro ENTER_PROT32_HI target
	PROT32_SWITCH gdt_desc_hi, HI_BASE, \target
.endm

/*
 * START_PROT32_HI: the reset vector to `start`, which sets up real mode (REAL_INIT),
 * enters flat protected mode at the firmware alias and continues at `prot32` with
 * the stack at STACK_TOP (the guests that reprogram PAM begin so).
 */
.macro START_PROT32_HI
	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	ENTER_PROT32_HI prot32
	mov	$STACK_TOP, %esp
.endm

/*
 * RTC_WAIT_FUNC name, check, done, seconds: a function `name` that runs the
 * instruction \check until the conditional jump \done (on its flags) is taken, at
 * most \seconds by the RTC; CF set on timeout. Clobbers al, bl, esi.
 */
.macro RTC_WAIT_FUNC name, check, done, seconds
\name:
	CMOS_READ 0x00
	mov	%al, %bl
	mov	$\seconds, %esi
1:	\check
	\done	2f
	pause
	CMOS_READ 0x00
	cmp	%al, %bl
	je	1b
	mov	%al, %bl
	dec	%esi
	jnz	1b
	stc
	ret
2:	clc
	ret
.endm

.macro PRINTH text
	.pushsection .rodata
9004:	.asciz	"\text"
	.popsection
	mov	$HI(9004b), %esi
	call	puts_32
.endm

.macro GDT_HI
	.pushsection .rodata
	.balign 4
gdt_desc_hi:
	.word	gdt_end - gdt - 1
	.long	HI(gdt)
	.popsection
.endm

/*
 * Configuration mechanism #1 on bus 0, ebx = devfn << 8 | register (00:00.0 is
 * just the register): conf_read8/16/32 to al/ax/eax, conf_write8/16/32 from
 * al/ax/eax. Clobber eax (reads), edx.
 */
.macro CONF_FUNCS
conf_addr:
	mov	%ebx, %eax
	and	$0xFFFC, %eax
	or	$0x80000000, %eax
	mov	$CONF_ADDR, %dx
	out	%eax, %dx
	mov	%ebx, %edx
	and	$3, %edx
	add	$CONF_DATA, %edx
	ret
conf_read8:
	call	conf_addr
	in	%dx, %al
	ret
conf_read16:
	call	conf_addr
	in	%dx, %ax
	ret
conf_read32:
	call	conf_addr
	in	%dx, %eax
	ret
conf_write8:
	push	%eax
	call	conf_addr
	pop	%eax
	out	%al, %dx
	ret
conf_write16:
	push	%eax
	call	conf_addr
	pop	%eax
	out	%ax, %dx
	ret
conf_write32:
	push	%eax
	call	conf_addr
	pop	%eax
	out	%eax, %dx
	ret
.endm

/*
 * START_APS (32-bit): software-enable the LAPIC, as SeaBIOS does, and send INIT
 * then SIPI twice (vector SIPI_VECTOR) to all but self. Needs ICR_FUNCS.
 * ICR_FUNCS: icr_wait, a bounded wait until the LAPIC has sent the IPI
 * (clobbers ecx).
 */
.macro START_APS
	orl	$0x100, LAPIC_SVR
	movl	$0, LAPIC_ICR_HI
	movl	$ICR_INIT, LAPIC_ICR_LO
	call	icr_wait
	movl	$(ICR_SIPI | SIPI_VECTOR), LAPIC_ICR_LO
	call	icr_wait
	movl	$(ICR_SIPI | SIPI_VECTOR), LAPIC_ICR_LO
	call	icr_wait
.endm

.macro ICR_FUNCS
icr_wait:
	mov	$0x10000, %ecx
1:	testl	$ICR_BUSY, LAPIC_ICR_LO
	jz	2f
	pause
	dec	%ecx
	jnz	1b
2:	ret
.endm

/* Print a string literal from mode 16, 32 or 64. Clobbers ax, cx, dx, (e/r)si. */
.macro PRINT16 text
	.pushsection .rodata
9002:	.asciz	"\text"
	.popsection
	mov	$9002b, %si
	call	puts_16
.endm

.macro PRINT32 text
	.pushsection .rodata
9002:	.asciz	"\text"
	.popsection
	mov	$A(9002b), %esi
	call	puts_32
.endm

.macro PRINT64 text
	.pushsection .rodata
9002:	.asciz	"\text"
	.popsection
	mov	$A(9002b), %esi
	call	puts_64
.endm

/* A byte to a port, from any mode. Clobbers al, dx. */
.macro OUTB port, val
	mov	$\port, %dx
	mov	$\val, %al
	out	%al, %dx
.endm

/* End the run with isa-debug-exit value \val (any mode). Does not return. */
.macro DEBUG_EXIT_WITH val
	OUTB	DEBUG_EXIT, \val
9003:	cli
	hlt
	jmp	9003b
.endm

/* CMOS register \reg to al, from any mode. Clobbers dx. */
.macro CMOS_READ reg
	mov	$\reg, %al
	out	%al, $CMOS_INDEX
	in	$CMOS_DATA, %al
.endm

/*
 * The helpers, for mode \m (16, 32 or 64):
 *   uart_init_\m      COM1 at 115200 8N1, FIFOs on, no interrupts.  Clobbers al, dx.
 *   putc_\m           al to COM1, after waiting (bounded) for THRE.  Clobbers ax, cx, dx.
 *   puts_\m           NUL-terminated string at (e/r)si to COM1.     Clobbers ax, cx, dx, si.
 *   dbg_puts_\m       the same to debugcon (0x402).                  Clobbers al, dx, si.
 *   hex32_\m          eax as 8 lowercase hex digits.    Clobbers eax, ebx, ecx, edx, edi.
 *   hexdigits_\m      the top edi nibbles of ebx, the same way.
 *   dec8_\m           al (0-255) in decimal.            Clobbers eax, ebx, ecx, edx, edi.
 */
.macro IO_FUNCS m
uart_init_\m:
	OUTB	COM1_IER, 0x00
	OUTB	COM1_LCR, 0x80		/* DLAB: divisor latch */
	OUTB	COM1, 0x01		/* 115200 baud */
	OUTB	COM1_IER, 0x00
	OUTB	COM1_LCR, 0x03		/* 8N1 */
	OUTB	COM1_FCR, 0x07		/* enable and clear the FIFOs */
	OUTB	COM1_MCR, 0x03		/* DTR, RTS; OUT2 off: no IRQ */
	ret

putc_\m:
	mov	%al, %ah
	mov	$0xFFFF, %cx
	mov	$COM1_LSR, %dx
1:	in	%dx, %al
	test	$LSR_THRE, %al
	jnz	2f
	dec	%cx
	jnz	1b
2:	mov	$COM1, %dx
	mov	%ah, %al
	out	%al, %dx
	ret

puts_\m:
1:	lodsb
	test	%al, %al
	jz	2f
	call	putc_\m
	jmp	1b
2:	ret

dbg_puts_\m:
	mov	$DEBUGCON, %dx
1:	lodsb
	test	%al, %al
	jz	2f
	out	%al, %dx
	jmp	1b
2:	ret

hex32_\m:
	mov	%eax, %ebx
	mov	$8, %edi
hexdigits_\m:
1:	rol	$4, %ebx
	mov	%bl, %al
	and	$0x0F, %al
	add	$0x30, %al		/* '0' */
	cmp	$0x39, %al		/* '9' */
	jbe	2f
	add	$0x27, %al		/* 'a' - '0' - 10 */
2:	call	putc_\m
	dec	%edi
	jnz	1b
	ret

dec8_\m:
	movzbl	%al, %eax
	mov	$10, %bl
	div	%bl			/* al = v / 10, ah = ones */
	mov	%ah, %bh
	movzbl	%al, %eax
	div	%bl			/* al = hundreds, ah = tens */
	mov	%ah, %bl
	xor	%edi, %edi		/* 1 once a leading digit is out */
	test	%al, %al
	jz	1f
	add	$0x30, %al
	call	putc_\m
	inc	%edi
1:	mov	%bl, %al
	test	%edi, %edi
	jnz	2f
	test	%al, %al
	jz	3f
2:	add	$0x30, %al
	call	putc_\m
3:	mov	%bh, %al
	add	$0x30, %al
	call	putc_\m
	ret
.endm
