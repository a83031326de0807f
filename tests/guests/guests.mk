# tests/guests/guests.mk - the firmware-style test guests, included by the Makefile.
#
# Each image is a 128 KiB raw firmware file, build/guests/NAME.bin, assembled from
# tests/guests/SOURCE.S (with lib.S) and laid out by guest.ld; tests/integration/run.sh
# runs them. To add one: write the .S (see lib.S for the helpers) and add a
# $(call guest,NAME,SOURCE,FLAGS) line below.

GUEST_DIR     := tests/guests
GUEST_OUT     := $(BUILD)/guests
GUEST_CC      ?= gcc
GUEST_LD      ?= ld
GUEST_OBJCOPY ?= objcopy
GUEST_ASFLAGS := -m32 -nostdinc -I$(GUEST_DIR) -Wa,--fatal-warnings
GUEST_DEPS    := $(GUEST_DIR)/lib.S $(GUEST_DIR)/guest.ld $(GUEST_DIR)/guests.mk
GUEST_BINS    :=

# $(call guest,NAME,SOURCE,EXTRA_ASFLAGS)
define guest
GUEST_BINS += $(GUEST_OUT)/$(1).bin
$(GUEST_OUT)/$(1).o: $(GUEST_DIR)/$(2).S $(GUEST_DEPS)
	@mkdir -p $(GUEST_OUT)
	$$(GUEST_CC) $$(GUEST_ASFLAGS) $(3) -c -o $$@ $$<
endef

$(eval $(call guest,hello,hello,))
$(eval $(call guest,modes,modes,))
$(eval $(call guest,smp,smp,))
$(eval $(call guest,exit3,exit,-DEXIT_VALUE=3))
$(eval $(call guest,exit127,exit,-DEXIT_VALUE=127))
$(eval $(call guest,reset,reset,))
$(eval $(call guest,reset_cf9,reset,-DRESET_CF9))
$(eval $(call guest,triple,triple,))
$(eval $(call guest,romwrite,romwrite,))
$(eval $(call guest,pam,pam,))
$(eval $(call guest,holes,holes,))
$(eval $(call guest,bigmem,bigmem,))
$(eval $(call guest,pambench,pambench,))
$(eval $(call guest,smm,smm,))
$(eval $(call guest,fwcfg,fwcfg,))
$(eval $(call guest,edu,edu,))
$(eval $(call guest,edu_quick,edu,-DQUICK))
$(eval $(call guest,edu_bench1,edu,-DBENCH=1))
$(eval $(call guest,edu_bench,edu,-DBENCH=20000))
$(eval $(call guest,edu_bench_1m,edu,-DBENCH=1000000))

$(GUEST_OUT)/%.elf: $(GUEST_OUT)/%.o $(GUEST_DIR)/guest.ld
	$(GUEST_LD) -m elf_i386 -nostdlib --build-id=none -T $(GUEST_DIR)/guest.ld -o $@ $<

$(GUEST_OUT)/%.bin: $(GUEST_OUT)/%.elf
	$(GUEST_OBJCOPY) -O binary $< $@

# The ELF files are kept (the Makefile's bare .SECONDARY keeps every intermediate):
# `objdump -d -mi8086 build/guests/NAME.elf` when debugging.
.PHONY: guests guests-qemu
guests:: $(GUEST_BINS)

# The images under QEMU TCG, with the checks vmm must pass: no /dev/kvm or vmm needed.
guests-qemu: guests
	sh tests/integration/run.sh --peer qemu
