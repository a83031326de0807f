/*
 * firmware/optionrom/linuxboot.S - the Linux boot option ROM, found by
 * SeaBIOS as fw_cfg file "genroms/linuxboot_dma.bin".
 *
 * Contract
 * - A PC option ROM: 0x55 0xAA, size in 512-byte blocks, init entry at
 *   offset 3 (a bare far return: nothing to install), a $PnP expansion
 *   header whose Bootstrap Entry Vector (BEV) SeaBIOS adds to its boot list
 *   (boot priority from the fw_cfg "bootorder" file,
 *   "/rom@genroms/linuxboot_dma.bin"). romsum fixes the $PnP checksum and
 *   the whole-ROM checksum at build time.
 * - At the BEV (real mode, CS = the ROM's shadow copy, which is read-only by
 *   then, so every variable lives on the caller's stack): for SETUP,
 *   KERNEL, INITRD and CMDLINE, read *_ADDR and *_SIZE from fw_cfg and copy
 *   *_DATA to that guest physical address. Bulk data goes by fw_cfg DMA when
 *   FW_CFG_ID has the DMA bit (one transfer per item, the FWCfgDmaAccess
 *   struct on the stack); otherwise through the data port 0x511 into a
 *   32 KiB bounce buffer at BOUNCE_PHYS and from there with INT 15h AH=87h
 *   (BIOS block move: reaches above 1 MiB and handles A20). An odd last
 *   chunk moves one extra byte past the item's end (a word count).
 * - Then, as the boot protocol's real-mode entry: cli, ds = es = fs = gs =
 *   ss = setup segment, sp = cmdline_addr - setup_addr - 16 (the top of the
 *   64 KiB setup segment, just under the command line), far jump to
 *   (setup segment + 0x20):0.
 * - On any error (DMA ERROR or no completion, INT 15h failure, an item
 *   wrapping past 4 GiB, a setup/cmdline layout the jump cannot express,
 *   no "HdrS" in the loaded setup) one line "linuxboot: ..." goes to the
 *   debug console 0x402 and the BEV returns to the BIOS with its registers
 *   restored, which then tries the next boot device. Progress lines go to 0x402 too.
 * - The numbers below mirror devices/fw_cfg.h (that header is C only).
 */

#define FW_CFG_CTL          0x510
#define FW_CFG_DATA         0x511
#define FW_CFG_DMA_HI       0x514
#define FW_CFG_DMA_LO       0x518
#define FW_CFG_ID           0x01
#define FW_CFG_KERNEL_ADDR  0x07
#define FW_CFG_KERNEL_SIZE  0x08
#define FW_CFG_INITRD_ADDR  0x0a
#define FW_CFG_INITRD_SIZE  0x0b
#define FW_CFG_KERNEL_DATA  0x11
#define FW_CFG_INITRD_DATA  0x12
#define FW_CFG_CMDLINE_ADDR 0x13
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_SETUP_ADDR   0x16
#define FW_CFG_SETUP_SIZE   0x17
#define FW_CFG_SETUP_DATA   0x18
#define FW_CFG_VERSION_DMA  0x02
#define DMA_CTL_ERROR       0x01
#define DMA_CTL_READ        0x02
#define DMA_CTL_SELECT      0x08
#define DMA_POLL_MAX        0x1000000 /* polls of the control word before giving up */

#define DEBUGCON            0x402
/*
 * The no-DMA bounce buffer: above the command line (at most 0x20000 +
 * 64 KiB, see firmware/linuxboot.h), far below the EBDA and clear of
 * SeaBIOS's own low memory (IVT/BDA, its stack near 0x7000, the EBDA).
 */
#define BOUNCE_SEG          0x3000
#define BOUNCE_PHYS         0x30000
#define BOUNCE_LEN          0x8000   /* INT 15h AH=87h moves at most 0x8000 words */
#define HDRS_MAGIC          0x53726448 /* "HdrS" at setup + 0x202 */
#define SETUP_MAX_ADDR      0x90000  /* setup + its 64 KiB segment below 640 KiB */
#define DESC_DATA_RW        0x93     /* present, ring 0, data, writable, accessed */

	.code16
	.text
	.globl	_start
_start:
	.byte	0x55, 0xaa
	.byte	(rom_end - _start) / 512
	lretw				/* offset 3: init entry; the work is at boot time */

	.org	0x18
	.word	0			/* no PCI data structure */
	.word	pnp_header		/* 0x1a: offset of the $PnP header */

	.balign	16
pnp_header:				/* PnP BIOS spec 1.0a, expansion header */
	.ascii	"$PnP"
	.byte	0x01			/* structure revision */
	.byte	(pnp_end - pnp_header) / 16 /* length in 16-byte units */
	.word	0			/* next header: none */
	.byte	0			/* reserved */
	.byte	0			/* checksum: romsum makes the header sum to 0 */
	.long	0			/* device identifier */
	.word	str_manufacturer
	.word	str_product
	.byte	0, 0, 0			/* device type code */
	.byte	0			/* device indicators */
	.word	0			/* boot connection vector: none */
	.word	0			/* disconnect vector */
	.word	bev			/* bootstrap entry vector */
	.word	0			/* reserved */
	.word	0			/* static resource information vector */
pnp_end:

str_manufacturer:
	.asciz	"vmm"
str_product:
	.asciz	"Linux loader (fw_cfg)"

msg_start:	.asciz	"linuxboot: loading Linux from fw_cfg\n"
msg_nodma:	.asciz	"linuxboot: fw_cfg has no DMA, using the data port\n"
msg_wrap:	.asciz	"linuxboot: fw_cfg item wraps past 4 GiB\n"
msg_readerr:	.asciz	"linuxboot: fw_cfg read failed\n"
msg_layout:	.asciz	"linuxboot: setup/cmdline addresses unusable for a real-mode entry\n"
msg_nohdr:	.asciz	"linuxboot: no HdrS at the loaded setup\n"
msg_boot:	.asciz	"linuxboot: jumping to the kernel setup\n"

	/* {ADDR, SIZE, DATA} keys, in load order; 0 ends the list. */
	.balign	2
items:
	.word	FW_CFG_SETUP_ADDR, FW_CFG_SETUP_SIZE, FW_CFG_SETUP_DATA
	.word	FW_CFG_KERNEL_ADDR, FW_CFG_KERNEL_SIZE, FW_CFG_KERNEL_DATA
	.word	FW_CFG_INITRD_ADDR, FW_CFG_INITRD_SIZE, FW_CFG_INITRD_DATA
	.word	FW_CFG_CMDLINE_ADDR, FW_CFG_CMDLINE_SIZE, FW_CFG_CMDLINE_DATA
	.word	0

/*
 * The BEV. Frame: everything the BIOS had is pushed first so an error can
 * return to it; -4(%bp) holds the DMA flag.
 */
bev:
	pushfw
	pushal
	pushw	%ds
	pushw	%es
	pushw	%fs
	pushw	%gs
	movw	%sp, %bp
	subw	$16, %sp
	cli
	cld
	pushw	%cs
	popw	%ds			/* ds = the ROM: messages and the item list */

	movw	$msg_start, %si
	call	puts
	movw	$FW_CFG_ID, %ax
	call	cfg_read32
	andl	$FW_CFG_VERSION_DMA, %eax
	movl	%eax, -4(%bp)
	jnz	1f
	movw	$msg_nodma, %si
	call	puts
1:
	movw	$items, %si
next_item:
	lodsw
	testw	%ax, %ax
	jz	loaded
	call	cfg_read32		/* *_ADDR */
	movl	%eax, %edi
	lodsw
	call	cfg_read32		/* *_SIZE */
	movl	%eax, %ecx
	lodsw				/* ax = the *_DATA key */
	testl	%ecx, %ecx
	jz	next_item		/* absent or empty (no initrd): nothing to load */
	movl	%edi, %edx
	addl	%ecx, %edx
	jc	err_wrap
	pushw	%si
	cmpl	$0, -4(%bp)
	je	2f
	call	dma_read
	jmp	3f
2:	call	pio_read
3:	popw	%si
	jc	err_read
	jmp	next_item

loaded:
	movw	$FW_CFG_SETUP_ADDR, %ax
	call	cfg_read32
	movl	%eax, %ebx
	movw	$FW_CFG_CMDLINE_ADDR, %ax
	call	cfg_read32
	/* The stack top is cmdline - setup - 16: it must sit inside the setup segment. */
	subl	%ebx, %eax
	jbe	err_layout
	cmpl	$0x10000, %eax
	ja	err_layout
	cmpl	$0x10, %eax
	jbe	err_layout
	subl	$16, %eax
	movl	%eax, %ecx		/* the new esp */
	testb	$0x0f, %bl
	jnz	err_layout
	cmpl	$SETUP_MAX_ADDR, %ebx
	ja	err_layout
	shrl	$4, %ebx		/* bx = the setup segment */
	movw	%bx, %es
	cmpl	$HDRS_MAGIC, %es:0x202
	jne	err_nohdr
	movw	$msg_boot, %si
	call	puts

	/* Real-mode entry, Documentation/arch/x86/boot.rst "Running the kernel". */
	movw	%bx, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	movw	%ax, %ss
	movl	%ecx, %esp
	addw	$0x20, %ax
	pushw	%ax			/* cs = setup segment + 0x20 */
	pushw	$0			/* ip = 0 */
	xorl	%eax, %eax
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%esi, %esi
	xorl	%edi, %edi
	xorl	%ebp, %ebp
	lretw

err_wrap:
	movw	$msg_wrap, %si
	jmp	fail
err_read:
	movw	$msg_readerr, %si
	jmp	fail
err_layout:
	movw	$msg_layout, %si
	jmp	fail
err_nohdr:
	movw	$msg_nohdr, %si
fail:
	pushw	%cs
	popw	%ds
	call	puts
	movw	%bp, %sp
	popw	%gs
	popw	%fs
	popw	%es
	popw	%ds
	popal
	popfw				/* the BIOS's interrupt flag back */
	lretw

/* ds:si = NUL-terminated string -> debug console. Clobbers al, dx, si. */
puts:
	movw	$DEBUGCON, %dx
1:	lodsb
	testb	%al, %al
	jz	2f
	outb	%al, %dx
	jmp	1b
2:	ret

/*
 * ax = key -> eax = the item's first four bytes, little-endian, through
 * the data port (an absent item reads as 0). Clobbers cx, dx.
 */
cfg_read32:
	movw	$FW_CFG_CTL, %dx
	outw	%ax, %dx
	incw	%dx
	movw	$4, %cx
1:	inb	%dx, %al
	rorl	$8, %eax
	loop	1b
	ret

/*
 * DMA: ax = key, edi = guest physical address, ecx = length (> 0).
 * CF set when the device reports ERROR. Clobbers eax, ebx, ecx, edx, esi,
 * edi. The FWCfgDmaAccess {BE32 control, BE32 length, BE64 address} is
 * built on the stack, 16-byte aligned, at linear ss * 16 + offset.
 */
dma_read:
	pushw	%bp
	movw	%sp, %bp
	subw	$32, %sp
	andw	$0xfff0, %sp
	movw	%sp, %bx
	movzwl	%ax, %eax
	shll	$16, %eax
	orl	$(DMA_CTL_SELECT | DMA_CTL_READ), %eax
	bswapl	%eax
	movl	%eax, %ss:0(%bx)
	bswapl	%ecx
	movl	%ecx, %ss:4(%bx)
	movl	$0, %ss:8(%bx)
	bswapl	%edi
	movl	%edi, %ss:12(%bx)
	xorl	%eax, %eax
	movw	%ss, %ax
	shll	$4, %eax
	movzwl	%bx, %esi
	addl	%eax, %esi
	bswapl	%esi
	xorl	%eax, %eax
	movw	$FW_CFG_DMA_HI, %dx
	outl	%eax, %dx		/* high half of the struct address: 0 */
	movl	%esi, %eax
	movw	$FW_CFG_DMA_LO, %dx
	outl	%eax, %dx		/* low half: starts the transfer */
	/*
	 * QEMU and vmm finish the transfer before the OUT returns; the bound
	 * only keeps a device that ignored the request from hanging the boot.
	 */
	movl	$DMA_POLL_MAX, %ecx
1:	movl	%ss:0(%bx), %eax
	bswapl	%eax
	testl	$~DMA_CTL_ERROR, %eax
	jz	2f
	pause
	decl	%ecx
	jnz	1b
	stc
	jmp	3f
2:	shrl	$1, %eax		/* CF = ERROR */
3:	movw	%bp, %sp
	popw	%bp
	ret

/* ss:di = a GDT descriptor; eax = base. A 64 KiB writable data segment. Clobbers eax, edx. */
set_desc:
	movl	%eax, %edx
	shll	$16, %eax
	movw	$0xffff, %ax
	movl	%eax, %ss:0(%di)	/* limit 15:0, base 15:0 */
	movl	%edx, %eax
	andl	$0xff000000, %eax	/* base 31:24 */
	shrl	$16, %edx
	movzbl	%dl, %edx		/* base 23:16 */
	orl	%edx, %eax
	orl	$(DESC_DATA_RW << 8), %eax
	movl	%eax, %ss:4(%di)
	ret

/*
 * No DMA: ax = key, edi = guest physical address, ecx = length (> 0).
 * Chunks of BOUNCE_LEN bytes through the data port into the bounce buffer,
 * each moved to its place by INT 15h AH=87h. CF set when the BIOS fails a
 * move. Clobbers eax, ebx, ecx, edx, esi, edi.
 * Frame: -4(%bp) bytes left, -8(%bp) destination, -12(%bp) this chunk,
 * and the 48-byte INT 15h GDT at ss:bx.
 */
pio_read:
	pushw	%bp
	movw	%sp, %bp
	subw	$80, %sp
	andw	$0xfff0, %sp
	movw	%sp, %bx
	movl	%ecx, -4(%bp)
	movl	%edi, -8(%bp)
	movw	$FW_CFG_CTL, %dx
	outw	%ax, %dx
1:	movl	-4(%bp), %ecx
	testl	%ecx, %ecx
	jz	9f			/* done; test cleared CF */
	movl	$BOUNCE_LEN, %eax
	cmpl	%eax, %ecx
	jae	2f
	movl	%ecx, %eax
2:	subl	%eax, -4(%bp)
	movl	%eax, -12(%bp)
	movw	%ax, %cx
	pushw	%es
	movw	$BOUNCE_SEG, %ax
	movw	%ax, %es
	xorw	%di, %di
	movw	$FW_CFG_DATA, %dx
	rep insb
	popw	%es

	.irp	off, 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44
	movl	$0, %ss:\off(%bx)
	.endr
	leaw	0x10(%bx), %di		/* descriptor 2: source */
	movl	$BOUNCE_PHYS, %eax
	call	set_desc
	leaw	0x18(%bx), %di		/* descriptor 3: destination */
	movl	-8(%bp), %eax
	call	set_desc
	movl	-12(%bp), %ecx
	addl	%ecx, -8(%bp)
	incw	%cx
	shrw	$1, %cx			/* words, rounded up */
	pushw	%es
	pushw	%bx
	pushw	%bp
	pushw	%ss
	popw	%es
	movw	%bx, %si
	movb	$0x87, %ah
	int	$0x15
	popw	%bp
	popw	%bx
	popw	%es
	jc	9f
	jmp	1b
9:	movw	%bp, %sp
	popw	%bp
	ret

	.byte	0			/* room for the checksum byte romsum sets */
	.balign	512, 0
rom_end:
