/*
 * romwrite.bin - the firmware is one ROM seen at two addresses, and it is
 * read-only at both. From flat protected mode:
 * - a signature in the image reads the same at its low-mirror address
 *   (0xF0000 + x) and below 4 GiB (0xFFFF0000 + x), and so does the first byte
 *   of the image (0xE0000 and 0xFFFE0000, the unused 0xff half): "ROM alias ok";
 * - writes to all four addresses change nothing: "ROM ro ok"; debug-exit 0.
 * A failed check prints "ROM bad <check>" and exits with value 2 (status 5).
 */
#include "lib.S"

#define SIG_LO	0x53474953		/* "SIGS" */
#define SIG_HI	0x31304d4f		/* "OM01" */
#define IMG_LOW	0xE0000			/* the image's first byte, low mirror */

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	ENTER_PROT32 prot32

	cmpl	$SIG_LO, A(sig)
	jne	bad_low
	cmpl	$SIG_HI, A(sig) + 4
	jne	bad_low
	cmpl	$SIG_LO, A(sig) + TOP_ALIAS
	jne	bad_top
	cmpl	$SIG_HI, A(sig) + TOP_ALIAS + 4
	jne	bad_top
	cmpb	$0xff, IMG_LOW
	jne	bad_pad
	cmpb	$0xff, IMG_LOW + TOP_ALIAS
	jne	bad_pad
	PRINT32	"ROM alias ok\n"

	movl	$0x12345678, A(sig)
	movl	$0x9abcdef0, A(sig) + TOP_ALIAS + 4
	movb	$0x00, IMG_LOW
	movb	$0x00, IMG_LOW + TOP_ALIAS
	cmpl	$SIG_LO, A(sig)
	jne	bad_write
	cmpl	$SIG_HI, A(sig) + 4
	jne	bad_write
	cmpl	$SIG_LO, A(sig) + TOP_ALIAS
	jne	bad_write
	cmpl	$SIG_HI, A(sig) + TOP_ALIAS + 4
	jne	bad_write
	cmpb	$0xff, IMG_LOW
	jne	bad_write
	cmpb	$0xff, IMG_LOW + TOP_ALIAS
	jne	bad_write
	PRINT32	"ROM ro ok\n"
	DEBUG_EXIT_WITH 0

bad_low:
	PRINT32	"ROM bad signature at 0xf0000+\n"
	DEBUG_EXIT_WITH 2
bad_top:
	PRINT32	"ROM bad signature at 0xffff0000+\n"
	DEBUG_EXIT_WITH 2
bad_pad:
	PRINT32	"ROM bad first byte (0xe0000 or 0xfffe0000)\n"
	DEBUG_EXIT_WITH 2
bad_write:
	PRINT32	"ROM bad write went through\n"
	DEBUG_EXIT_WITH 2

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	GDT

	.section .rodata
	.balign 8
sig:	.long	SIG_LO, SIG_HI
