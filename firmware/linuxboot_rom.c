/*
 * firmware/linuxboot_rom.c - the option ROM image, built by
 * firmware/optionrom/optionrom.mk, carried in .rodata. The Makefile runs the
 * compiler from the repository root, so the path is relative to it; the
 * objects depend on the image (optionrom.mk) so a new ROM rebuilds them.
 */
#include "firmware/linuxboot.h"

#ifndef FW_LINUXBOOT_ROM_BIN
#define FW_LINUXBOOT_ROM_BIN "build/optionrom/linuxboot.bin"
#endif

__asm__(
	"	.pushsection .rodata\n"
	"	.balign 16\n"
	"	.globl fw_linuxboot_rom\n"
	"	.type fw_linuxboot_rom, @object\n"
	"fw_linuxboot_rom:\n"
	"	.incbin \"" FW_LINUXBOOT_ROM_BIN "\"\n"
	"fw_linuxboot_rom_end:\n"
	"	.size fw_linuxboot_rom, fw_linuxboot_rom_end - fw_linuxboot_rom\n"
	"	.balign 8\n"
	"	.globl fw_linuxboot_rom_size\n"
	"	.type fw_linuxboot_rom_size, @object\n"
	"fw_linuxboot_rom_size:\n"
	"	.8byte fw_linuxboot_rom_end - fw_linuxboot_rom\n"
	"	.size fw_linuxboot_rom_size, 8\n"
	"	.popsection\n");

_Static_assert(sizeof(size_t) == 8, "fw_linuxboot_rom_size is emitted as .8byte");
