/*
 * smm.bin - the SMM view of SMRAM (KVM address space 1).
 *
 * With SMRAM open (D_OPEN | G_SMRAME) the guest writes a marker at 0xA8000
 * and copies an SMI handler to SMBASE + 0x8000 (0x38000, ordinary RAM). It
 * closes SMRAM (G_SMRAME only): outside SMM 0xA8000 is the VGA range again
 * (all-ones). A write to APM_CNT (0xB2) raises an SMI; the handler, in SMM,
 * copies what it sees at 0xA8000 to a mailbox at 0x600, writes a second
 * marker at 0xA8004 and returns (RSM). Then the guest checks:
 *   - the mailbox holds the marker: SMM saw SMRAM DRAM while it was closed;
 *   - 0xA8000 still reads all-ones outside SMM;
 *   - opened again, 0xA8004 holds the handler's marker.
 * Serial: "SMM ok"; "SMM not entered" (no SMI: e.g. KVM without SMM) or
 * "SMM bad step=<n> got=<v>": debug-exit 2 (status 5).
 */
#include "lib.S"

#define SMRAM_REG	0x9D
#define MARK1		0x5A5A1234
#define MARK2		0x600DF00D
#define MAILBOX		0x600
#define HANDLER		0x38000			/* SMBASE 0x30000 + 0x8000 */
#define APM_CNT		0xB2

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	xor	%ax, %ax
	mov	%ax, %fs			/* fs: flat low 64 KiB, for the mailbox */
	movl	$0, %fs:MAILBOX
	mov	$0x4A, %al			/* D_OPEN | G_SMRAME | C_BASE_SEG */
	call	smram_set
	mov	$0xA800, %ax
	mov	%ax, %gs
	movl	$MARK1, %gs:0
	movl	$0, %gs:4
	/* the handler to 3800:0000 */
	mov	$0x3800, %ax
	mov	%ax, %es
	xor	%di, %di
	mov	$handler, %si
	mov	$(handler_end - handler), %cx
	rep movsb
	mov	$0x0A, %al			/* closed: G_SMRAME | C_BASE_SEG */
	call	smram_set
	cmpl	$0xFFFFFFFF, %gs:0
	mov	$1, %bx
	jne	bad_gs
	mov	$APM_CNT, %dx
	mov	$0, %al
	out	%al, %dx			/* SMI */
	nop
	mov	%fs:MAILBOX, %eax
	test	%eax, %eax
	jz	not_entered
	cmp	$MARK1, %eax
	mov	$2, %bx
	jne	bad
	cmpl	$0xFFFFFFFF, %gs:0		/* still VGA outside SMM */
	mov	$3, %bx
	jne	bad_gs
	mov	$0x4A, %al
	call	smram_set
	mov	%gs:4, %eax
	cmp	$MARK2, %eax
	mov	$4, %bx
	jne	bad
	PRINT16	"SMM ok\n"
	DEBUG_EXIT_WITH 0

bad_gs:
	mov	%gs:0, %eax
bad:
	push	%eax
	PRINT16	"SMM bad step="
	mov	%bx, %ax
	call	dec8_16
	PRINT16	" got="
	pop	%eax
	call	hex32_16
	PRINT16	"\n"
	DEBUG_EXIT_WITH 2
not_entered:
	PRINT16	"SMM not entered\n"
	DEBUG_EXIT_WITH 2

/* al to the SMRAM register of 00:00.0. Clobbers eax, dx. */
smram_set:
	push	%ax
	mov	$(0x80000000 | (SMRAM_REG & 0xFC)), %eax
	mov	$0xCF8, %dx
	out	%eax, %dx
	pop	%ax
	mov	$(0xCFC + (SMRAM_REG & 3)), %dx
	out	%al, %dx
	ret

/*
 * The SMI handler, copied to SMBASE + 0x8000. SMM starts in a real-mode-like
 * state with 4 GiB segment limits and DS = ES = 0: 32-bit addresses reach
 * SMRAM and the mailbox directly.
 */
handler:
	addr32 movl	0xA8000, %eax
	addr32 movl	%eax, MAILBOX
	addr32 movl	$MARK2, 0xA8004
	rsm
handler_end:

	.code16
	IO_FUNCS 16
