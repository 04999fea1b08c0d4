# Alder build. `make` builds the disk image; see README.md for the rest.
# Sources are found by wildcard: a new .c/.S file in a listed directory is
# built without touching this file.

BUILD   := build
CC      := gcc
HOSTCC  := gcc
FUZZCC  := clang
PYTHON  := python3

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wpointer-arith -Wvla
INC     := -Iabi -Ikernel/include -Ikernel/arch/x86_64/include

KCFLAGS := -std=gnu11 -O2 -g $(WARN) $(INC) -ffreestanding -fno-pic -fno-pie \
           -mcmodel=kernel -mno-red-zone -mgeneral-regs-only -fno-stack-protector \
           -fno-omit-frame-pointer -fno-strict-aliasing -fno-builtin -MMD -MP \
           -DHEAP_DEBUG
KASFLAGS := -g $(INC) -fno-pic -fno-pie -MMD -MP -D__ASSEMBLY__
KLDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
            -Wl,--no-warn-rwx-segments,--build-id=none -T kernel/arch/x86_64/kernel.ld

UCFLAGS := -std=gnu11 -O2 -g $(WARN) -Iabi -Ilib/ulib/include -ffreestanding \
           -fno-pic -fno-pie -fno-stack-protector -fno-builtin -mgeneral-regs-only -MMD -MP
ULDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
            -T lib/ulib/user.ld

HOSTCFLAGS := -std=gnu11 -O1 -g $(WARN) -Wno-missing-prototypes -Itests/host/shim $(INC) \
              -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
              -DHEAP_DEBUG -DHOST_TEST
FUZZCFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
              -Itests/host/shim $(INC) -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all -DHOST_TEST

KSRC := $(wildcard kernel/generic/*.c kernel/arch/x86_64/*.c kernel/arch/x86_64/*.S)
KOBJ := $(patsubst %,$(BUILD)/%.o,$(KSRC))
ULIB_SRC := $(wildcard lib/ulib/*.c lib/ulib/*.S)
ULIB_OBJ := $(patsubst %,$(BUILD)/%.o,$(ULIB_SRC))
# The server runtime (docs/RUNTIME.md); lib/rt/host/ is for host tests only.
RT_SRC := $(wildcard lib/rt/*.c)
RT_OBJ := $(patsubst %,$(BUILD)/%.o,$(RT_SRC))
RTCFLAGS := $(UCFLAGS) -Ilib/rt/include
ECHO_OBJ := $(patsubst %,$(BUILD)/%.o,$(wildcard srv/echo/*.c))
UPROGS := $(BUILD)/user/init $(BUILD)/user/srv/echo $(patsubst tests/user/%.c,$(BUILD)/user/tests/%,$(wildcard tests/user/*.c))
# Programs linked with Debian's musl (docs/LINUX_SHIM.md), at /tests/musl/ in the initramfs.
MUSL_PROGS := $(patsubst tests/musl/%.c,$(BUILD)/user/musl/%,$(wildcard tests/musl/*.c))
HOST_TESTS := $(patsubst tests/host/%.c,$(BUILD)/host/%,$(wildcard tests/host/test_*.c))
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

IMAGE := $(BUILD)/alder.img

.PHONY: all deps kernel image run run-uefi debug test test-host test-vm bench fuzz clean
all: deps image

deps:
	@tools/deps.sh

kernel: $(BUILD)/kernel.elf

# The kernel is linked twice: the second link adds the symbol table that
# backtraces use. .ksyms is the last section, so nothing before it moves.
$(BUILD)/kernel.elf: $(KOBJ) kernel/arch/x86_64/kernel.ld tools/gensyms.py
	$(CC) $(KLDFLAGS) -o $(BUILD)/kernel.pass1.elf $(KOBJ) -lgcc
	$(PYTHON) tools/gensyms.py $(BUILD)/kernel.pass1.elf > $(BUILD)/ksyms.S
	$(CC) $(KASFLAGS) -c -o $(BUILD)/ksyms.o $(BUILD)/ksyms.S
	$(CC) $(KLDFLAGS) -o $@ $(KOBJ) $(BUILD)/ksyms.o -lgcc
	$(PYTHON) tools/gensyms.py --check $(BUILD)/kernel.pass1.elf $@

$(BUILD)/kernel/%.c.o: kernel/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(KCFLAGS) -c -o $@ $<
$(BUILD)/kernel/%.S.o: kernel/%.S
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(CC) $(KASFLAGS) -c -o $@ $<

$(BUILD)/lib/ulib/%.c.o: lib/ulib/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(UCFLAGS) -c -o $@ $<
$(BUILD)/lib/ulib/%.S.o: lib/ulib/%.S
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(UCFLAGS) -c -o $@ $<
$(BUILD)/ulib.a: $(ULIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/lib/rt/%.c.o: lib/rt/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(RTCFLAGS) -c -o $@ $<
$(BUILD)/rt.a: $(RT_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/user/init: $(patsubst %,$(BUILD)/%.o,$(wildcard srv/init/*.c)) $(BUILD)/ulib.a lib/ulib/user.ld
	@mkdir -p $(dir $@)
	$(CC) $(ULDFLAGS) -o $@ $(filter %.o,$^) $(BUILD)/ulib.a -lgcc
$(BUILD)/srv/%.c.o: srv/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(UCFLAGS) -c -o $@ $<
# Servers on lib/rt (native, not musl): /srv/<name> in the initramfs.
$(BUILD)/srv/echo/%.c.o: srv/echo/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(RTCFLAGS) -c -o $@ $<
$(BUILD)/user/srv/echo: $(ECHO_OBJ) $(BUILD)/rt.a $(BUILD)/ulib.a lib/ulib/user.ld
	@mkdir -p $(dir $@)
	$(CC) $(ULDFLAGS) -o $@ $(ECHO_OBJ) $(BUILD)/rt.a $(BUILD)/ulib.a -lgcc
$(BUILD)/user/tests/%: tests/user/%.c $(BUILD)/rt.a $(BUILD)/ulib.a lib/ulib/user.ld
	@mkdir -p $(dir $@) $(BUILD)/tests/user
	@echo "  CC      $<"
	@$(CC) $(RTCFLAGS) -MT $@ -c -o $(BUILD)/tests/user/$*.o $<
	$(CC) $(ULDFLAGS) -o $@ $(BUILD)/tests/user/$*.o $(BUILD)/rt.a $(BUILD)/ulib.a -lgcc
$(BUILD)/user/musl/%: tests/musl/%.c
	@mkdir -p $(dir $@)
	@echo "  MUSLCC  $<"
	@musl-gcc -static -O2 -Wall -Wextra -Werror -Iabi -o $@ $<

# The initramfs: /init is the first user program, /tests/ the in-VM tests.
$(BUILD)/initramfs.cpio: $(UPROGS) $(MUSL_PROGS)
	rm -rf $(BUILD)/initramfs && mkdir -p $(BUILD)/initramfs/tests/musl $(BUILD)/initramfs/srv
	cp $(BUILD)/user/init $(BUILD)/initramfs/init
	cp $(BUILD)/user/srv/echo $(BUILD)/initramfs/srv/echo
	for t in $(BUILD)/user/tests/*; do [ -f "$$t" ] && cp $$t $(BUILD)/initramfs/tests/ || true; done
	for t in $(MUSL_PROGS); do cp $$t $(BUILD)/initramfs/tests/musl/; done
	cd $(BUILD)/initramfs && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet > ../initramfs.cpio

image: $(IMAGE)
$(IMAGE): $(BUILD)/kernel.elf $(BUILD)/initramfs.cpio tools/mkimage.sh
	tools/mkimage.sh $(BUILD)/kernel.elf $(BUILD)/initramfs.cpio $@

run: all
	tools/qemu.sh --bios $(IMAGE)
run-uefi: all
	tools/qemu.sh --uefi $(IMAGE)
debug: all
	tools/qemu.sh --bios --gdb $(IMAGE)

$(BUILD)/host/%: tests/host/%.c $(wildcard tests/host/shim/*.h tests/host/shim/kern/*.h) $(wildcard kernel/generic/*.c kernel/include/kern/*.h) $(wildcard lib/rt/*.[ch] lib/rt/include/rt/*.h lib/rt/host/*.[ch])
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOSTCFLAGS) -o $@ $< -lcmocka

$(BUILD)/fuzz/%: tests/fuzz/%.c $(wildcard kernel/generic/*.c kernel/include/kern/*.h)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZCFLAGS) -o $@ $<

test-host: deps $(HOST_TESTS)
	$(PYTHON) tools/testall.py --host $(HOST_TESTS)

test-vm: all
	$(PYTHON) tools/testall.py --vm $(IMAGE)

# The whole suite: host unit tests, then the in-VM tests in every boot
# configuration; ends with "N passed, N failed".
test: all $(HOST_TESTS) $(FUZZERS)
	$(PYTHON) tools/testall.py --host $(HOST_TESTS) --fuzz-smoke $(FUZZERS) --vm $(IMAGE)

fuzz: all $(FUZZERS)
	$(PYTHON) tools/testall.py --fuzz $(FUZZERS) --vm-fuzz $(IMAGE)

bench: all
	$(PYTHON) tools/bench.py $(IMAGE)

clean:
	rm -rf $(BUILD)

INIT_OBJ := $(patsubst %,$(BUILD)/%.o,$(wildcard srv/init/*.c))
-include $(KOBJ:.o=.d) $(ULIB_OBJ:.o=.d) $(RT_OBJ:.o=.d) $(ECHO_OBJ:.o=.d) $(INIT_OBJ:.o=.d) \
	 $(patsubst tests/user/%.c,$(BUILD)/tests/user/%.d,$(wildcard tests/user/*.c))
