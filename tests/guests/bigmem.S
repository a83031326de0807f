/*
 * bigmem.bin - RAM above 1 TiB in a guest of more than 1 TiB, for
 * `--memory 1100G --amd-hole on` (the layout vmm --memory-map prints for it:
 * 2 GiB below 4 GiB, the other 1098 GiB from 1 TiB, the AMD HyperTransport
 * range 0xFD00000000-0xFFFFFFFFFF and 4 GiB-1 TiB left without RAM).
 *
 * In long mode, with 2 MiB pages mapped on demand (identity), the guest:
 * - writes and reads back a qword at 1 TiB, at 1 TiB + 549 GiB and in the last
 *   qword of RAM (1 TiB + 1098 GiB - 8): "BIG ram ok";
 * - reads all-ones from the HT range and from 4 GiB, and its writes there
 *   change nothing: "BIG holes ok";
 * then debug-exit 0. A failure prints "BIG bad <address>" and exits with
 * debug-exit 2 (status 5).
 */
#include "lib.S"

#define TIB		0x10000000000
#define RAM_TOP		(TIB + 1098 * 0x40000000)
#define HT_START	0xFD00000000
#define NEXT_TABLE	0x600			/* bump allocator for page tables, in RAM */
#define TABLES		0x20000			/* tables come from 0x20000 up */

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	ENTER_PROT32 prot32
	ENTER_LONG64 long64
	movq	$TABLES, NEXT_TABLE

	mov	$TIB, %rdi
	call	ram_check
	mov	$(TIB + 549 * 0x40000000), %rdi
	call	ram_check
	mov	$(RAM_TOP - 8), %rdi
	call	ram_check
	PRINT64	"BIG ram ok\n"

	mov	$HT_START, %rdi
	call	hole_check
	mov	$(TIB - 8), %rdi
	call	hole_check
	mov	$0x100000000, %rdi
	call	hole_check
	PRINT64	"BIG holes ok\n"
	DEBUG_EXIT_WITH 0

/* RAM at rdi: a write reads back, and so does its complement. */
ram_check:
	call	map_2m
	mov	%rdi, %rax
	xor	$0x5A5A, %rax
	mov	%rax, (%rdi)
	cmp	(%rdi), %rax
	jne	bad
	not	%rax
	mov	%rax, (%rdi)
	cmp	(%rdi), %rax
	jne	bad
	ret

/* No RAM at rdi: reads all-ones, a write is dropped. */
hole_check:
	call	map_2m
	mov	(%rdi), %rax
	cmp	$-1, %rax
	jne	bad
	movq	$0, (%rdi)
	mov	(%rdi), %rax
	cmp	$-1, %rax
	jne	bad
	ret

/*
 * Identity-map the 2 MiB page holding rdi. Tables come zeroed from the bump
 * allocator. Clobbers rax, rbx, rcx, rdx, rsi.
 */
map_2m:
	mov	%cr3, %rsi			/* PML4 */
	mov	$39, %cl
	call	next_level
	mov	$30, %cl
	call	next_level			/* rsi = PD */
	mov	%rdi, %rax
	shr	$21, %rax
	and	$511, %rax
	mov	%rdi, %rbx
	and	$~0x1FFFFF, %rbx
	or	$0x83, %rbx			/* present, writable, 2 MiB */
	mov	%rbx, (%rsi,%rax,8)
	invlpg	(%rdi)
	ret

/* rsi = the table at index (rdi >> cl) & 511 of table rsi, made if absent. */
next_level:
	mov	%rdi, %rax
	shr	%cl, %rax
	and	$511, %rax
	lea	(%rsi,%rax,8), %rdx
	mov	(%rdx), %rbx
	test	$1, %rbx
	jnz	1f
	mov	NEXT_TABLE, %rbx		/* a new zeroed 4 KiB table */
	addq	$0x1000, NEXT_TABLE
	push	%rdi
	mov	%rbx, %rdi
	xor	%eax, %eax
	mov	$512, %ecx
	rep stosq
	pop	%rdi
	or	$3, %rbx
	mov	%rbx, (%rdx)
1:	and	$~0xFFF, %rbx
	mov	%rbx, %rsi
	ret

bad:
	mov	%rdi, %rbx
	PRINT64	"BIG bad "
	mov	%rbx, %rax
	shr	$32, %rax
	push	%rbx
	call	hex32_64
	pop	%rbx
	mov	%ebx, %eax
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
