/*
 * triple.bin - prints "TRIPLE" from protected mode, loads an empty IDT and runs
 * ud2: #UD cannot be delivered, nor the #GP and #DF that follow, so the CPU
 * shuts down (triple fault). vmm exits 1 with a one-line reason; QEMU with
 * -no-reboot treats it as a reset and exits 0. Should the guest go on, it prints
 * "NOFAULT" and exits with value 1 (status 3).
 */
#include "lib.S"

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	ENTER_PROT32 prot32
	PRINT32	"TRIPLE\n"
	lidt	A(empty_idt)
	ud2
	PRINT32	"NOFAULT\n"
	DEBUG_EXIT_WITH 1

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	GDT

	.section .rodata
	.balign 4
empty_idt:
	.word	0
	.long	0
