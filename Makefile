# vmm - a minimal KVM virtual machine monitor.
#   make          build build/vmm (static) and the test guest images
#   make check    unit tests (Check, ASan+UBSan), host integration tests, nested rigs
#                 (make rig, then make check-iommufd)
#   make deps     install every Debian package the build and the tests need
#   make bench    run the benchmarks under bench/

CC      ?= gcc
BUILD   := build
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wformat-security -Wno-format-nonliteral -Wpointer-arith -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -I. -D_GNU_SOURCE -fno-strict-aliasing
LIBS    := -luring -lfdt -lseccomp -lpthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LAYERS  := common memory devices vfio firmware vmm
LIB_SRC := $(filter-out vmm/main.c,$(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))
HDRS    := $(foreach d,$(LAYERS),$(wildcard $(d)/*.h))
OBJ     := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SAN_OBJ := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

DEB_PKGS := build-essential pkg-config liburing-dev libfdt-dev check libseccomp-dev \
            linux-libc-dev qemu-system-x86 seabios acpica-tools device-tree-compiler \
            busybox-static cpio xz-utils zstd lz4 gzip fio strace hyperfine time \
            iproute2 binutils extlinux syslinux-common fdisk \
            linux-source-6.12 flex bison bc libelf-dev libssl-dev

.PHONY: all check unit integration rig deps bench clean
# keep the sanitizer objects between runs
.SECONDARY:
all: $(BUILD)/vmm guests

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -c -o $@ $<

# Static so the same binary runs in the rig's busybox initramfs and starts
# without a dynamic loader.
$(BUILD)/vmm: $(BUILD)/obj/vmm/main.o $(OBJ)
	$(CC) $(CFLAGS) -static -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(SAN_OBJ) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -o $@ $< $(SAN_OBJ) $(LIBS) -lcheck -lsubunit -lm -lrt

-include tests/guests/guests.mk
-include firmware/optionrom/optionrom.mk
guests::

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: $(BUILD)/vmm guests
	bash tests/integration/run.sh

rig: $(BUILD)/vmm guests
	bash tests/rig/check.sh

check: unit integration rig check-iommufd

# The passthrough rig on the iommufd backend, level 1 on a Linux 6.12 built once for it
# (tests/rig/iommufd-kernel.sh); not part of check.
.PHONY: check-iommufd
check-iommufd: $(BUILD)/vmm guests
	bash tests/rig/check-iommufd.sh

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS)

bench: $(BUILD)/vmm guests
	@set -e; for b in bench/*.sh; do echo "== $$b"; bash $$b; done

clean:
	rm -rf $(BUILD)
