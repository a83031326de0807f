/*
 * pambench.bin - how long a PAM register write takes, seen from the guest:
 * from the write to resumed execution, configuration address included.
 *
 * Running from the firmware alias below 4 GiB, the guest counts, over
 * SECONDS RTC seconds each (starting on a second edge):
 *   pam:  conf1 address + byte write to PAM1, alternating 0x00 / 0x33
 *         (both 0xC0000 segments disabled / read-write: a real memslot change);
 *   base: the same two port writes to register 0x00 (vendor ID, read-only:
 *         the same exits, no memory-map change).
 * It prints "PAMBENCH seconds=<hex> pam=<hex count> base=<hex count>" and
 * debug-exit 0. bench/pam.sh turns that into µs per write.
 */
#include "lib.S"

#define SECONDS		2

	START_PROT32_HI

	mov	$0x80000090, %ebx		/* PAM0-3 dword; PAM1 is byte 1 */
	call	measure
	mov	%ebp, 0x800
	mov	$0x80000000, %ebx		/* vendor ID dword */
	call	measure
	mov	%ebp, 0x804
	PRINTH	"PAMBENCH seconds="
	mov	$SECONDS, %eax
	call	hex32_32
	PRINTH	" pam="
	mov	0x800, %eax
	call	hex32_32
	PRINTH	" base="
	mov	0x804, %eax
	call	hex32_32
	PRINTH	"\n"
	DEBUG_EXIT_WITH 0

/*
 * Count writes (conf address ebx, byte 1 of the data port) during SECONDS
 * RTC seconds, from a second edge. ebp = count. Clobbers eax, ecx, edx, esi, edi.
 */
measure:
	call	wait_edge
	xor	%ebp, %ebp
	mov	$SECONDS, %esi
1:	mov	%ebx, %eax
	mov	$0xCF8, %dx
	out	%eax, %dx
	mov	%ebp, %eax
	and	$1, %eax
	imul	$0x33, %eax, %eax
	mov	$0xCFD, %dx
	out	%al, %dx
	inc	%ebp
	test	$15, %ebp			/* look at the clock every 16 writes */
	jnz	1b
	CMOS_READ 0x00
	cmp	%al, %cl
	je	1b
	mov	%al, %cl
	dec	%esi
	jnz	1b
	ret

/* Return just after the RTC seconds register changes; cl = the new value. */
wait_edge:
	CMOS_READ 0x00
	mov	%al, %cl
1:	CMOS_READ 0x00
	cmp	%al, %cl
	je	1b
	mov	%al, %cl
	ret

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	GDT

	GDT_HI
