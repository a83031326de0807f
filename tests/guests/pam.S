/*
 * pam.bin - the Q35 host bridge's PAM and SMRAM registers, checked from the
 * guest against the Intel datasheet (not against QEMU 7.2, which reads DRAM
 * in write-only mode).
 *
 * The code runs from the firmware's alias below 4 GiB (0xFFFF0000 + x), never
 * from the 0xF0000 mirror, since it reprograms the segment that holds it. For
 * each of the 13 PAM segments, at probe = segment start + 0x100 (where the
 * image has a marker for the 0xE0000-0xFFFFF segments), with "ROM side" = what
 * the image holds there (read at the alias) for 0xE0000-0xFFFFF, all-ones
 * (unassigned) below:
 *   11 read-write: a write lands in DRAM and reads back;
 *   01 read-only:  reads DRAM; a write is dropped (DRAM keeps its value);
 *   10 write-only: a write lands in DRAM; reads give the ROM side;
 *   00 disabled:   reads give the ROM side; a write never reaches DRAM.
 * Then SMRAM (0x9D) at 0xA0000: D_OPEN=1 shows SMRAM DRAM (write, read back),
 * D_OPEN=0 shows the VGA range (unassigned: all-ones, writes dropped), D_OPEN
 * again shows the same DRAM value; D_LCK then locks D_OPEN off until reset.
 * Serial: "PAM seg <n> ok" per segment, "PAM ok", "SMRAM ok"; debug-exit 0.
 * A failed check prints "PAM bad seg=<n> step=<s> got=<v> want=<w>" (or
 * "SMRAM bad step=<s> ...") and debug-exit 2 (status 5).
 */
#include "lib.S"

#define PAM0		0x90
#define SMRAM		0x9D
#define PROBE_OFF	0x100
#define ONES		0xFFFFFFFF
/* variables, in RAM (the image is read-only) */
#define rom_val		0x800
#define pat		0x804
#define got		0x808
#define want		0x80C
#define step		0x810
#define tmp		0x814

	START_PROT32_HI

	xor	%ebp, %ebp			/* segment index */
seg_loop:
	lea	HI(segs)(,%ebp,4), %ebx		/* {u8 reg, u8 shift, u16 start >> 4} */
	movzwl	2(%ebx), %edi
	shl	$4, %edi
	add	$PROBE_OFF, %edi		/* edi = probe address */
	/* the ROM side: the image for 0xE0000+, all-ones below */
	mov	$ONES, %eax
	cmp	$0xE0000, %edi
	jb	1f
	mov	TOP_ALIAS(%edi), %eax
	cmp	$ONES, %eax			/* the image must have content here */
	mov	$0x10, %ecx
	je	fail_rom
1:	mov	%eax, rom_val
	/* P = 0xA5A50000 | seg: a value neither side holds */
	mov	%ebp, %eax
	or	$0xA5A50000, %eax
	mov	%eax, pat

	/* step 1, read-write: write P, read P */
	mov	$3, %cl
	call	pam_set
	mov	pat, %eax
	mov	%eax, (%edi)
	mov	$1, %ecx
	mov	pat, %edx
	call	check

	/* step 2, read-only: reads DRAM (P); a write of ~P is dropped */
	mov	$1, %cl
	call	pam_set
	mov	$2, %ecx
	mov	pat, %edx
	call	check
	mov	pat, %eax
	not	%eax
	mov	%eax, (%edi)
	mov	$3, %ecx
	mov	pat, %edx
	call	check
	mov	$3, %cl
	call	pam_set
	mov	$4, %ecx
	mov	pat, %edx
	call	check

	/* step 5, write-only: a write of P^0xFF00 lands in DRAM, reads give the ROM side */
	mov	$2, %cl
	call	pam_set
	mov	pat, %eax
	xor	$0xFF00, %eax
	mov	%eax, (%edi)
	mov	$5, %ecx
	mov	rom_val, %edx
	call	check
	mov	$3, %cl
	call	pam_set
	mov	pat, %edx
	xor	$0xFF00, %edx
	mov	$6, %ecx
	call	check

	/* step 7, disabled: reads give the ROM side, a write of ~P never reaches DRAM */
	xor	%cl, %cl
	call	pam_set
	mov	$7, %ecx
	mov	rom_val, %edx
	call	check
	mov	pat, %eax
	not	%eax
	mov	%eax, (%edi)
	mov	$8, %ecx
	mov	rom_val, %edx
	call	check
	mov	$3, %cl
	call	pam_set
	mov	pat, %edx
	xor	$0xFF00, %edx
	mov	$9, %ecx
	call	check

	/* back to disabled: the power-on state, firmware visible again */
	xor	%cl, %cl
	call	pam_set
	PRINTH	"PAM seg "
	mov	%ebp, %eax
	call	dec8_32
	PRINTH	" ok\n"
	inc	%ebp
	cmp	$13, %ebp
	jb	seg_loop
	PRINTH	"PAM ok\n"

	/* SMRAM: G_SMRAME | C_BASE_SEG with and without D_OPEN */
	mov	$100, %ebp			/* "segment" 100 in SMRAM messages */
	mov	$0xA0000 + PROBE_OFF, %edi
	mov	$0x4A, %al			/* D_OPEN: SMRAM DRAM visible */
	call	smram_set
	movl	$0x5A5A0A0A, (%edi)
	mov	$0x5A5A0A0A, %edx
	mov	$20, %ecx
	call	check
	mov	$0x0A, %al			/* closed: the VGA range, nothing there */
	call	smram_set
	mov	$ONES, %edx
	mov	$21, %ecx
	call	check
	movl	$0x12345678, (%edi)
	mov	$ONES, %edx
	mov	$22, %ecx
	call	check
	mov	$0x4A, %al			/* open again: DRAM kept its value */
	call	smram_set
	mov	$0x5A5A0A0A, %edx
	mov	$23, %ecx
	call	check
	mov	$0x1A, %al			/* D_LCK, closed */
	call	smram_set
	mov	$0x4A, %al			/* D_OPEN now ignored */
	call	smram_set
	mov	$ONES, %edx			/* still the VGA range */
	mov	$24, %ecx
	call	check
	call	smram_get
	movzbl	%al, %eax
	and	$0x50, %eax
	mov	%eax, tmp
	mov	$tmp, %edi
	mov	$0x10, %edx			/* D_LCK set, D_OPEN clear */
	mov	$25, %ecx
	call	check
	PRINTH	"SMRAM ok\n"
	DEBUG_EXIT_WITH 0

/* PAM segment at ebx gets mode cl (0..3), other bits kept. Clobbers eax, ecx, edx, esi. */
pam_set:
	movzbl	%cl, %esi
	movzbl	1(%ebx), %ecx			/* shift */
	shl	%cl, %esi			/* mode << shift */
	mov	$3, %edx
	shl	%cl, %edx
	not	%edx				/* the other segment's bits */
	push	%ebx
	push	%edx
	movzbl	(%ebx), %ebx
	add	$PAM0, %ebx
	call	conf_read8
	pop	%edx
	movzbl	%al, %eax
	and	%edx, %eax
	or	%esi, %eax
	call	conf_write8
	pop	%ebx
	ret

smram_set:
	push	%ebx
	mov	$SMRAM, %ebx
	call	conf_write8
	pop	%ebx
	ret

smram_get:
	push	%ebx
	mov	$SMRAM, %ebx
	call	conf_read8
	pop	%ebx
	ret

/* (edi) must equal edx, else report step ecx of segment ebp and fail. */
check:
	mov	(%edi), %eax
	cmp	%edx, %eax
	jne	fail
	ret
fail:
	mov	%eax, got
	mov	%edx, want
	mov	%ecx, step
	PRINTH	"PAM bad seg="
	mov	%ebp, %eax
	call	dec8_32
	PRINTH	" step="
	mov	step, %eax
	call	dec8_32
	PRINTH	" got="
	mov	got, %eax
	call	hex32_32
	PRINTH	" want="
	mov	want, %eax
	call	hex32_32
	PRINTH	"\n"
	DEBUG_EXIT_WITH 2
fail_rom:
	PRINTH	"PAM bad image: no ROM marker at the probe\n"
	DEBUG_EXIT_WITH 2

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	CONF_FUNCS
	GDT

	GDT_HI
/* {PAM register 0..6, bit shift, segment start >> 4}, in address order */
segs:
	.byte 1, 0
	.word 0xC000
	.byte 1, 4
	.word 0xC400
	.byte 2, 0
	.word 0xC800
	.byte 2, 4
	.word 0xCC00
	.byte 3, 0
	.word 0xD000
	.byte 3, 4
	.word 0xD400
	.byte 4, 0
	.word 0xD800
	.byte 4, 4
	.word 0xDC00
	.byte 5, 0
	.word 0xE000
	.byte 5, 4
	.word 0xE400
	.byte 6, 0
	.word 0xE800
	.byte 6, 4
	.word 0xEC00
	.byte 0, 4
	.word 0xF000

	/* ROM markers inside the 0xE0000-0xEFFFF segments (guest.ld places them) */
	.section .lowrom0, "a"
	.long	0x524F4D30
	.section .lowrom1, "a"
	.long	0x524F4D31
	.section .lowrom2, "a"
	.long	0x524F4D32
	.section .lowrom3, "a"
	.long	0x524F4D33
