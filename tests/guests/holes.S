/*
 * holes.bin - the hole detector (DESIGN.md I1), for --cpus 2.
 *
 * The AP writes and reads back a pattern over RAM_BASE..+RAM_LEN (above
 * 1 MiB) in a loop; the BSP meanwhile reprograms PAM0-PAM6 and SMRAM
 * ITERATIONS times through configuration mechanism #1. A memslot for RAM
 * above 1 MiB that vanished even for an instant would show as a mismatch
 * here, or as an MMIO exit that vmm reports on stderr ("MMIO exits landed in
 * guest RAM"); `--trace memslots` shows the calls themselves.
 * Both CPUs run from the firmware alias below 4 GiB (the 0xF0000 mirror is
 * reprogrammed under them) with interrupts off.
 * Serial: "HOLES ok writes=<PAM/SMRAM writes in thousands>k passes=<AP passes
 * over the range, capped at 255>", debug-exit 0; "HOLES bad at <addr> got <v>",
 * "HOLES no AP" or "HOLES AP stuck": debug-exit 2 (status 5).
 */
#include "lib.S"

#define ITERATIONS	2048		/* PAM/SMRAM register writes */
#define RAM_BASE	0x200000	/* 2 MiB */
#define RAM_LEN		0x4000		/* 16 KiB: every memslot change makes KVM refault it */
#define WAIT_SECONDS	20

/* shared state in RAM below 640 KiB */
#define AP_READY	(SCRATCH + 0x00)	/* the AP is in its loop */
#define STOP		(SCRATCH + 0x04)	/* BSP: stop now */
#define AP_DONE		(SCRATCH + 0x08)	/* AP: stopped */
#define BAD_ADDR	(SCRATCH + 0x0C)	/* AP: 0, or the first mismatching address */
#define BAD_VAL		(SCRATCH + 0x10)
#define PASSES		(SCRATCH + 0x14)

	.section .ap, "ax"
	.code16
ap_start:
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds
	ENTER_PROT32_HI ap_prot32
	mov	$AP_STACK, %esp
	movl	$1, AP_READY
	xor	%ebx, %ebx			/* pass number */
ap_pass:
	/* write addr ^ pass over the range, then read it all back */
	mov	$RAM_BASE, %edi
1:	mov	%edi, %eax
	xor	%ebx, %eax
	mov	%eax, (%edi)
	add	$4, %edi
	cmp	$(RAM_BASE + RAM_LEN), %edi
	jb	1b
	mov	$RAM_BASE, %edi
2:	mov	%edi, %eax
	xor	%ebx, %eax
	mov	(%edi), %edx
	cmp	%eax, %edx
	jne	ap_bad
	add	$4, %edi
	cmp	$(RAM_BASE + RAM_LEN), %edi
	jb	2b
	inc	%ebx
	mov	%ebx, PASSES
	cmpl	$0, STOP
	je	ap_pass
	jmp	ap_end
ap_bad:
	mov	%edx, BAD_VAL
	mov	%edi, BAD_ADDR
ap_end:
	movl	$1, AP_DONE
3:	cli
	hlt
	jmp	3b

	START_PROT32_HI
	xor	%eax, %eax
	mov	%eax, AP_READY
	mov	%eax, STOP
	mov	%eax, AP_DONE
	mov	%eax, BAD_ADDR
	mov	%eax, PASSES

	START_APS
	mov	$AP_READY, %edi
	call	wait_flag
	jc	no_ap

	/* ITERATIONS writes: PAM0..PAM6 round robin with rotating modes, and SMRAM
	   open/closed every 8th write (never D_LCK) */
	xor	%ebp, %ebp
4:	mov	%ebp, %eax
	and	$7, %eax
	cmp	$7, %eax
	je	5f
	lea	0x90(%eax), %ebx		/* PAM0 + n */
	mov	%ebp, %eax
	shr	$3, %eax
	and	$3, %eax
	imul	$0x11, %eax, %eax		/* both segments of the register in one mode */
	jmp	6f
5:	mov	$0x9D, %ebx
	mov	%ebp, %eax
	shr	$3, %eax
	and	$1, %eax
	shl	$6, %eax			/* D_OPEN on every other time */
	or	$0x0A, %eax			/* G_SMRAME | C_BASE_SEG */
6:	call	conf_write8
	cmpl	$0, BAD_ADDR
	jne	bad
	inc	%ebp
	cmp	$ITERATIONS, %ebp
	jb	4b

	/* all registers back to power-on (PAM disabled, SMRAM closed), then stop the AP */
	mov	$0x90, %ebx
7:	xor	%eax, %eax
	call	conf_write8
	inc	%ebx
	cmp	$0x97, %ebx
	jb	7b
	movl	$1, STOP
	mov	$AP_DONE, %edi
	call	wait_flag
	jc	ap_stuck
	cmpl	$0, BAD_ADDR
	jne	bad
	PRINTH	"HOLES ok writes="
	mov	$(ITERATIONS / 1024), %eax
	call	dec8_32
	PRINTH	"k passes="
	mov	PASSES, %eax
	cmp	$255, %eax
	jbe	8f
	mov	$255, %eax
8:	call	dec8_32
	PRINTH	"\n"
	DEBUG_EXIT_WITH 0

bad:
	PRINTH	"HOLES bad at "
	mov	BAD_ADDR, %eax
	call	hex32_32
	PRINTH	" got "
	mov	BAD_VAL, %eax
	call	hex32_32
	PRINTH	"\n"
	DEBUG_EXIT_WITH 2
no_ap:
	PRINTH	"HOLES no AP\n"
	DEBUG_EXIT_WITH 2
ap_stuck:
	PRINTH	"HOLES AP stuck\n"
	DEBUG_EXIT_WITH 2

/* Wait until the dword at edi is non-zero, at most WAIT_SECONDS by the RTC; CF set on timeout. */
	RTC_WAIT_FUNC wait_flag, "cmpl $0, (%edi)", jne, WAIT_SECONDS

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	ICR_FUNCS
	CONF_FUNCS
	GDT

	GDT_HI
