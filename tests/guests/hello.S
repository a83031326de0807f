/*
 * hello.bin - the smallest guest: real mode only.
 * COM1: "HELLO real-mode"; debugcon: "HELLO debugcon"; then debug-exit 0 (status 1).
 */
#include "lib.S"

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	PRINT16	"HELLO real-mode\n"
	mov	$dbg_msg, %si
	call	dbg_puts_16
	DEBUG_EXIT_WITH 0

	IO_FUNCS 16

	.section .rodata
dbg_msg: .asciz "HELLO debugcon\n"
