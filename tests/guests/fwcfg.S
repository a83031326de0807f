/*
 * fwcfg.bin - fw_cfg as a guest sees it, with bad requests among good ones
 * (run with --firmware: vmm then offers fw_cfg).
 *   1. selector 0 (signature) through port 0x510, four reads of 0x511: "QEMU";
 *   2. FW_CFG_ID has the DMA bit, and 0x514 reads "QEMU CFG";
 *   3. a DMA read of the signature into RAM: control comes back 0, bytes right;
 *   4. a DMA read to an address with no RAM (0xFEF00000, between the LAPIC and
 *      the KVM TSS pages): control comes back with ERROR, and the VM goes on;
 *   5. a DMA access structure that is itself outside RAM: nothing happens, the
 *      VM goes on;
 *   6. an unknown selector reads 0.
 * Serial: "FWCFG ok"; a failure prints "FWCFG bad step=<n> got=<hex>" and exits
 * with debug-exit 2 (status 5).
 */
#include "lib.S"

#define FW_SEL		0x510
#define FW_DATA		0x511
#define FW_DMA_HI	0x514
#define FW_DMA_LO	0x518
#define DMA_STRUCT	0x700			/* {be32 control, be32 length, be64 address} */
#define DMA_DEST	0x800
#define CTL_ERROR	0x01
#define CTL_READ	0x02
#define CTL_SELECT	0x08

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	ENTER_PROT32 prot32

	/* 1: signature through the data port */
	mov	$FW_SEL, %dx
	xor	%ax, %ax
	out	%ax, %dx
	call	read4
	cmp	$0x554D4551, %eax		/* "QEMU" */
	mov	$1, %ebx
	jne	bad

	/* 2: FW_CFG_ID has DMA; the DMA register reads its signature */
	mov	$FW_SEL, %dx
	mov	$1, %ax
	out	%ax, %dx
	call	read4
	and	$2, %eax
	mov	$2, %ebx
	jz	bad
	mov	$FW_DMA_HI, %dx
	in	%dx, %eax
	cmp	$0x554D4551, %eax		/* "QEMU" in address order */
	mov	$3, %ebx
	jne	bad

	/* 3: DMA read of 4 bytes of key 0 to DMA_DEST */
	movl	$0, DMA_DEST
	mov	$DMA_DEST, %eax
	call	dma4
	test	%eax, %eax
	mov	$4, %ebx
	jnz	bad
	mov	DMA_DEST, %eax
	cmp	$0x554D4551, %eax
	mov	$5, %ebx
	jne	bad

	/* 4: DMA to an address with no RAM: ERROR, no crash */
	mov	$0xFEF00000, %eax
	call	dma4
	test	$CTL_ERROR, %eax
	mov	$6, %ebx
	jz	bad

	/* 5: the access structure itself outside RAM: nothing happens */
	mov	$FW_DMA_HI, %dx
	xor	%eax, %eax
	out	%eax, %dx
	mov	$FW_DMA_LO, %dx
	mov	$0x0000F0FE, %eax		/* 0xFEF00000, big-endian: no RAM there */
	out	%eax, %dx
	mov	$7, %ebx

	/* 6: an unknown selector reads as an empty item: zeros */
	mov	$FW_SEL, %dx
	mov	$0x7777, %ax
	out	%ax, %dx
	call	read4
	test	%eax, %eax
	mov	$8, %ebx
	jnz	bad

	PRINT32	"FWCFG ok\n"
	DEBUG_EXIT_WITH 0

/* Four data-port reads, little-endian into eax. Clobbers ecx, edx. */
read4:
	mov	$FW_DATA, %dx
	xor	%eax, %eax
	mov	$4, %ecx
1:	in	%dx, %al
	ror	$8, %eax
	dec	%ecx
	jnz	1b
	ret

/* DMA: SELECT key 0 + READ, 4 bytes, to address eax; returns the control word (host order). */
dma4:
	bswap	%eax
	movl	$0, DMA_STRUCT + 8		/* address high (big-endian): 0 */
	mov	%eax, DMA_STRUCT + 12		/* address low */
	movl	$0x04000000, DMA_STRUCT + 4	/* length 4, big-endian */
	movl	$((CTL_SELECT | CTL_READ) << 24), DMA_STRUCT	/* key 0 in bits 31:16 */
	mov	$FW_DMA_HI, %dx
	xor	%eax, %eax
	out	%eax, %dx
	mov	$FW_DMA_LO, %dx
	mov	$DMA_STRUCT, %eax
	bswap	%eax
	out	%eax, %dx
	mov	DMA_STRUCT, %eax
	bswap	%eax
	ret

bad:
	push	%eax
	PRINT32	"FWCFG bad step="
	mov	%ebx, %eax
	call	dec8_32
	PRINT32	" got="
	pop	%eax
	call	hex32_32
	PRINT32	"\n"
	DEBUG_EXIT_WITH 2

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	GDT
