# firmware/optionrom/optionrom.mk - the Linux boot option ROM, included by the Makefile.
#
# linuxboot.S (16-bit, GNU as through gcc's preprocessor) is linked at 0 and
# flattened to a raw image; romsum (a host tool built here) checks the
# header and fixes the $PnP and whole-ROM checksums. firmware/linuxboot_rom.c
# pulls the result into the vmm binary with .incbin, so its objects depend
# on the image.

OPTROM_DIR     := firmware/optionrom
OPTROM_OUT     := $(BUILD)/optionrom
OPTROM_CC      ?= gcc
OPTROM_LD      ?= ld
OPTROM_OBJCOPY ?= objcopy
OPTROM_ASFLAGS := -m32 -nostdinc -Wa,--fatal-warnings
OPTROM_BIN     := $(OPTROM_OUT)/linuxboot.bin

$(OPTROM_OUT)/romsum: $(OPTROM_DIR)/romsum.c
	@mkdir -p $(OPTROM_OUT)
	$(CC) $(CFLAGS) -o $@ $<

$(OPTROM_OUT)/linuxboot.o: $(OPTROM_DIR)/linuxboot.S $(OPTROM_DIR)/optionrom.mk
	@mkdir -p $(OPTROM_OUT)
	$(OPTROM_CC) $(OPTROM_ASFLAGS) -c -o $@ $<

$(OPTROM_OUT)/linuxboot.elf: $(OPTROM_OUT)/linuxboot.o
	$(OPTROM_LD) -m elf_i386 -nostdlib --build-id=none -Ttext=0 -e _start -o $@ $<

$(OPTROM_OUT)/linuxboot.raw: $(OPTROM_OUT)/linuxboot.elf
	$(OPTROM_OBJCOPY) -O binary -j .text $< $@

$(OPTROM_BIN): $(OPTROM_OUT)/linuxboot.raw $(OPTROM_OUT)/romsum
	$(OPTROM_OUT)/romsum $< $@

# Explicit targets, so make keeps them: `objdump -d -mi8086 build/optionrom/linuxboot.elf`
# shows the ROM when debugging.

# The image is .incbin'd: rebuild the objects that carry it when it changes.
$(BUILD)/obj/firmware/linuxboot_rom.o $(BUILD)/san/firmware/linuxboot_rom.o: $(OPTROM_BIN)

.PHONY: optionrom
optionrom: $(OPTROM_BIN)
