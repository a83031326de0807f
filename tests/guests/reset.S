/*
 * reset.bin / reset_cf9.bin - prints "RESET", then asks the chipset for a reset:
 * 0xFE to the keyboard controller's command port 0x64 (pulse the reset line),
 * or, built with -DRESET_CF9, 0x06 (SYS_RST | RST_CPU) to the reset control
 * register 0xCF9. vmm then exits 0 (as does QEMU with -no-reboot).
 * Should the guest go on, it prints "NORESET" and exits with value 1 (status 3).
 */
#include "lib.S"

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	PRINT16	"RESET\n"
#ifdef RESET_CF9
	OUTB	0xCF9, 0x06
#else
	mov	$0x1000, %cx		/* wait (bounded) for the 8042 input buffer */
1:	in	$0x64, %al
	test	$0x02, %al
	jz	2f
	dec	%cx
	jnz	1b
2:	mov	$0xFE, %al
	out	%al, $0x64
#endif
	mov	$0x10000, %ecx		/* give an asynchronous reset time to happen */
3:	dec	%ecx
	jnz	3b
	PRINT16	"NORESET\n"
	DEBUG_EXIT_WITH 1

	IO_FUNCS 16
