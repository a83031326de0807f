/*
 * smp.bin - start every AP with INIT-SIPI-SIPI and count them.
 *
 * The BSP enters flat protected mode, prints "CPU <its LAPIC id> up", reads the
 * number of APs from CMOS 0x5F (CPUs - 1, as SeaBIOS expects: vmm and QEMU both
 * set it), and sends INIT then SIPI twice to all-excluding-self, vector 0xF0:
 * the APs start at F000:0000, the start of section .ap. Each AP enters
 * protected mode, takes a spinlock in RAM (xchg), prints "CPU <LAPIC id> up",
 * counts itself, drops the lock and halts. The BSP waits until the count is
 * right, at most about 10 seconds by the RTC, and prints "SMP ok n=<CPUs>",
 * debug-exit 0; or "SMP timeout n=<CPUs up> want=<CPUs>", debug-exit 2 (status 5).
 * So under --cpus N the serial output has N "CPU x up" lines, x all different.
 */
#include "lib.S"

#define LOCK		SCRATCH
#define COUNT		(SCRATCH + 4)
#define WAIT_SECONDS	10

	.section .ap, "ax"
	.code16
ap_start:
	cli
	cld
	mov	%cs, %ax
	mov	%ax, %ds
	ENTER_PROT32 ap_prot32
1:	mov	$1, %eax
	xchg	%eax, LOCK		/* locked: xchg with memory always is */
	test	%eax, %eax
	jz	2f
	pause
	jmp	1b
2:	mov	$AP_STACK, %esp		/* the lock guards the AP stack too */
	call	print_cpu_up
	lock incl COUNT
	movl	$0, LOCK
3:	cli
	hlt
	jmp	3b

	RESET_VECTOR start
	.text
	.code16
start:
	REAL_INIT
	ENTER_PROT32 prot32
	movl	$0, LOCK
	movl	$0, COUNT
	call	print_cpu_up

	CMOS_READ 0x5F
	movzbl	%al, %ebp		/* APs to wait for */
	START_APS

	/* Wait for the APs, bounded by RTC second ticks, not by CPU speed. */
	CMOS_READ 0x00
	mov	%al, %bl
	mov	$WAIT_SECONDS, %esi
4:	cmp	COUNT, %ebp
	je	6f
	pause
	CMOS_READ 0x00
	cmp	%al, %bl
	je	4b
	mov	%al, %bl
	dec	%esi
	jnz	4b

	PRINT32	"SMP timeout n="
	mov	COUNT, %eax
	inc	%eax
	call	dec8_32
	PRINT32	" want="
	lea	1(%ebp), %eax
	call	dec8_32
	PRINT32	"\n"
	DEBUG_EXIT_WITH 2

6:	PRINT32	"SMP ok n="
	lea	1(%ebp), %eax
	call	dec8_32
	PRINT32	"\n"
	DEBUG_EXIT_WITH 0

/* "CPU <LAPIC id> up"; clobbers eax, ebx, ecx, edx, esi, edi. */
print_cpu_up:
	PRINT32	"CPU "
	mov	LAPIC_ID, %eax
	shr	$24, %eax
	call	dec8_32
	PRINT32	" up\n"
	ret

	.code16
	IO_FUNCS 16
	.code32
	IO_FUNCS 32
	ICR_FUNCS
	GDT
