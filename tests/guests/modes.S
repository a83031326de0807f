/*
 * modes.bin - real mode, then 32-bit protected mode, then long mode, each
 * reporting from itself through port I/O; then a RAM test above 1 MiB.
 * COM1: "MODE real", "MODE prot32", "MODE long64", "RAM ok"; debug-exit 0.
 * On a RAM mismatch: "RAM bad at <hex address>", debug-exit 2 (status 5).
 */
#include "lib.S"

/* Every 64 KiB from 1 MiB to 64 MiB: 1008 qwords, each its own address xor PATTERN. */
#define RAM_FIRST	0x100000
#define RAM_END		0x4000000
#define RAM_STEP	0x10000
#define PATTERN		0x5aa5c33c0ff0a55a

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	PRINT16	"MODE real\n"
	ENTER_PROT32 prot32
	PRINT32	"MODE prot32\n"
	ENTER_LONG64 long64
	PRINT64	"MODE long64\n"

	movabs	$PATTERN, %rbx
	mov	$RAM_FIRST, %edi
1:	mov	%rdi, %rax
	xor	%rbx, %rax
	mov	%rax, (%rdi)
	add	$RAM_STEP, %edi
	cmp	$RAM_END, %edi
	jb	1b

	mov	$RAM_FIRST, %edi
2:	mov	%rdi, %rax
	xor	%rbx, %rax
	cmp	%rax, (%rdi)
	jne	3f
	add	$RAM_STEP, %edi
	cmp	$RAM_END, %edi
	jb	2b
	PRINT64	"RAM ok\n"
	DEBUG_EXIT_WITH 0

3:	mov	%edi, %ebp
	PRINT64	"RAM bad at "
	mov	%ebp, %eax
	call	hex32_64
	PRINT64	"\n"
	DEBUG_EXIT_WITH 2

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	.code64
	IO_FUNCS 64
	GDT
