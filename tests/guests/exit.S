/*
 * exit<V>.bin - prints "EXIT <V>" (decimal) and ends with debug-exit value V:
 * vmm and QEMU then exit with status (V << 1) | 1. guests.mk builds one image
 * per EXIT_VALUE (-DEXIT_VALUE=V).
 */
#include "lib.S"

#ifndef EXIT_VALUE
#error "build with -DEXIT_VALUE=V"
#endif

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	PRINT16	"EXIT "
	mov	$EXIT_VALUE, %al
	call	dec8_16
	PRINT16	"\n"
	DEBUG_EXIT_WITH EXIT_VALUE

	IO_FUNCS 16
