# SPDX-License-Identifier: MIT
# ssbpf: one Makefile for the daemon, its BPF objects, tests and tools.

CC      ?= gcc
O       := build
SAN     := $(O)/asan
VERSION := $(shell cat VERSION)
CFLAGS_COMMON := -DSSBPF_VERSION='"$(VERSION)"' -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP -Iinclude -g
CFLAGS  ?= -O2
SANFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
PURE_LIBS := -lsodium -lcrypto -lm
LDLIBS  := $(PURE_LIBS) -lssl -lcares -lmnl -lbpf -lelf -lz -lqrencode
CLANG   ?= clang
BPFTOOL ?= bpftool
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(O)/%.skel.h)
# The BPF target architecture of the build machine (gateways often run arm64).
BPF_ARCH  := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64.*/arm64/' \
		-e 's/arm.*/arm/' -e 's/ppc64.*/powerpc/' -e 's/riscv64/riscv/' -e 's/s390x/s390/')
BPF_CFLAGS := -target bpf -g -O2 -Wall -Werror -D__TARGET_ARCH_$(BPF_ARCH)

# One folder per layer (docs/architecture.md); every object keeps its folder.
LIB_SRCS  := $(filter-out user/main/%,$(wildcard user/*/*.c))
LIB_OBJS  := $(LIB_SRCS:user/%.c=$(O)/obj/%.o)
SAN_OBJS  := $(LIB_SRCS:user/%.c=$(SAN)/obj/%.o)
# Pure modules (parsing, framing, crypto, policy): no I/O beyond logging and
# no libbpf, so unit tests and fuzzers link them alone.
PURE      := why acl acl_rules addr config_servers sip008 http_proxy socks4 aead2017 aead2022 method2022 blake3 chunks sip022_udp config config_fields config_ports crypto json key log log_sink manager_cmd options sbuf options_table policy replay salt_window sip002 socks5 \
	     steer_spec steer_list counters
PURE_SRCS := $(foreach p,$(PURE),$(filter %/$(p).c,$(LIB_SRCS)))
PURE_OBJS := $(PURE_SRCS:user/%.c=$(O)/obj/%.o)
SAN_PURE_OBJS := $(PURE_SRCS:user/%.c=$(SAN)/obj/%.o)
# Only the BPF loaders include the generated skeletons.
SKEL_USERS := kernel/bpf_relay kernel/bpf_shortcut kernel/bpf_steer kernel/bpf_capture kernel/bpf_serve
MAINS     := $(wildcard user/main/main_*.c)
BINS      := $(MAINS:user/main/main_%.c=$(O)/%)
SAN_BINS  := $(MAINS:user/main/main_%.c=$(SAN)/%)
UNIT_SRCS := $(wildcard tests/unit/*.c)

.PHONY: all bins deb deps test run bench bench-crypto fuzz torture clean install uninstall vmtest vmtest-matrix
MANS := $(O)/man/ssserver.1 $(O)/man/sslocal.1 $(O)/man/ssmanager.1 $(O)/man/ssctl.1
DAEMONS := ssserver sslocal ssmanager
COMPS := $(DAEMONS:%=$(O)/completion/bash/%) $(DAEMONS:%=$(O)/completion/zsh/_%)
all: $(BINS) $(O)/unit-tests $(O)/bench-crypto $(O)/connbench $(MANS) $(COMPS)
# What a package or an install needs, without the test and benchmark programs.
bins: $(BINS) $(MANS) $(COMPS)

# Every build step first makes sure the Debian packages are present.
$(O)/.deps: tools/deps.sh
	@mkdir -p $(O)
	@tools/deps.sh
	@touch $@
deps: $(O)/.deps

# BPF: vmlinux.h from the running kernel's BTF (never committed), CO-RE
# objects, and skeletons that user/bpf_*.c include.
$(O)/vmlinux.h: | $(O)/.deps
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@
$(O)/%.bpf.o: bpf/%.bpf.c $(wildcard include/*_bpf.h) $(O)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -I$(O) -Iinclude -c $< -o $@
# Kept after the build: objects depend on the skeletons.
.SECONDARY: $(BPF_SKELS) $(BPF_SKELS:.skel.h=.bpf.o)
$(O)/%.skel.h: $(O)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(SKEL_USERS:%=$(O)/obj/%.o) $(SKEL_USERS:%=$(SAN)/obj/%.o) \
$(SKEL_USERS:%=$(O)/fuzz/obj/%.o): $(BPF_SKELS)
$(O)/obj/%.o: user/%.c | $(O)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -I$(O) $(CFLAGS) -c $< -o $@
$(SAN)/obj/%.o: user/%.c | $(O)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -I$(O) $(SANFLAGS) -c $< -o $@

$(O)/libss.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^
$(SAN)/libss.a: $(SAN_OBJS)
	rm -f $@ && ar rcs $@ $^
$(O)/libpure.a: $(PURE_OBJS)
	rm -f $@ && ar rcs $@ $^
$(SAN)/libpure.a: $(SAN_PURE_OBJS)
	rm -f $@ && ar rcs $@ $^

# The programs' sources moved to user/main/: a dependency file of an older
# build may still name their old place.
user/main_%.c: ;
$(O)/%: user/main/main_%.c $(O)/libss.a
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) $< $(O)/libss.a $(LDLIBS) -o $@
$(SAN)/%: user/main/main_%.c $(SAN)/libss.a
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) $< $(SAN)/libss.a $(LDLIBS) -o $@

$(O)/unit-tests: $(UNIT_SRCS) $(O)/libpure.a
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -Itests/unit $(UNIT_SRCS) $(O)/libpure.a $(PURE_LIBS) -o $@
$(SAN)/unit-tests: $(UNIT_SRCS) $(SAN)/libpure.a
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Itests/unit $(UNIT_SRCS) $(SAN)/libpure.a $(PURE_LIBS) -o $@

$(O)/bench-crypto: tools/bench-crypto.c $(O)/libpure.a
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) $< $(O)/libpure.a $(PURE_LIBS) -o $@

$(O)/connbench: tools/connbench.c | $(O)/.deps
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) $< -lpthread -o $@

# Man pages, generated from the option table so that they cannot drift.
$(O)/mkman: tools/mkman.c $(O)/libpure.a
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) $< $(O)/libpure.a $(PURE_LIBS) -o $@
$(O)/man/%.1: $(O)/mkman
	@mkdir -p $(dir $@)
	$(O)/mkman $* > $@.tmp && mv $@.tmp $@
# Shell completions, from the same table.
$(O)/mkcomp: tools/mkcomp.c $(O)/libpure.a
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) $< $(O)/libpure.a $(PURE_LIBS) -o $@
$(O)/completion/bash/%: $(O)/mkcomp
	@mkdir -p $(dir $@)
	$(O)/mkcomp bash $* > $@.tmp && mv $@.tmp $@
$(O)/completion/zsh/_%: $(O)/mkcomp
	@mkdir -p $(dir $@)
	$(O)/mkcomp zsh $* > $@.tmp && mv $@.tmp $@

# make install [PREFIX=/usr/local] [DESTDIR=...]: binaries, man pages, an
# example config and the systemd units (which run $(PREFIX)/bin/...).
PREFIX ?= /usr/local
BINDIR := $(DESTDIR)$(PREFIX)/bin
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,/etc/systemd/system)
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/sysusers.d,/etc/sysusers.d)
INSTALLED_BINS := $(notdir $(BINS))
UNITS := $(notdir $(wildcard dist/systemd/*.service dist/systemd/*.socket))
BASHCOMPDIR := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR := $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions
install: $(BINS) $(MANS) $(COMPS)
	install -d $(BINDIR) $(MANDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/ssbpf $(DESTDIR)$(SYSUSERSDIR) \
		$(BASHCOMPDIR) $(ZSHCOMPDIR)
	install -m 0755 $(BINS) $(BINDIR)/
	install -m 0644 $(MANS) $(MANDIR)/
	install -m 0644 $(DAEMONS:%=$(O)/completion/bash/%) $(BASHCOMPDIR)/
	install -m 0644 $(DAEMONS:%=$(O)/completion/zsh/_%) $(ZSHCOMPDIR)/
	for u in $(UNITS); do \
		sed 's|@BINDIR@|$(PREFIX)/bin|g' dist/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	install -m 0644 dist/example.json $(DESTDIR)/etc/ssbpf/example.json
	install -m 0644 dist/sysusers/ssbpf.conf $(DESTDIR)$(SYSUSERSDIR)/ssbpf.conf
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/ssbpf.conf; fi
# make uninstall [PURGE=1]: what install put in place, and its own folders once
# empty; PURGE=1 also removes the replay filter's files (/var/lib/ssbpf).
uninstall:
	rm -f $(INSTALLED_BINS:%=$(BINDIR)/%) $(MANS:$(O)/man/%=$(MANDIR)/%) \
	      $(UNITS:%=$(DESTDIR)$(UNITDIR)/%) $(DESTDIR)/etc/ssbpf/example.json \
	      $(DESTDIR)$(SYSUSERSDIR)/ssbpf.conf $(DAEMONS:%=$(BASHCOMPDIR)/%) $(DAEMONS:%=$(ZSHCOMPDIR)/_%)
	$(if $(PURGE),rm -rf $(DESTDIR)/var/lib/ssbpf $(DESTDIR)/var/lib/private/ssbpf)
	-rmdir --ignore-fail-on-non-empty $(DESTDIR)/etc/ssbpf $(DESTDIR)$(SYSUSERSDIR) 2>/dev/null

# make deb: a Debian package (debhelper) built from a copy of the tracked
# files, in $(O)/deb/ssbpf_VERSION_ARCH.deb.
DEB_DIR := $(O)/deb/ssbpf-$(VERSION)
deb:
	rm -rf $(O)/deb && mkdir -p $(DEB_DIR)
	git ls-files -z | tar --null -cf - -T - | tar -xf - -C $(DEB_DIR)
	cp -r dist/debian $(DEB_DIR)/debian
	printf 'ssbpf (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
		'$(VERSION)' '$(VERSION)' "$$(sed -n 's/^Maintainer: //p' dist/debian/control)" \
		"$$(date -R)" > $(DEB_DIR)/debian/changelog
	cd $(DEB_DIR) && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || { tail -30 ../build.log; exit 1; }
	@ls $(O)/deb/*.deb

bench-crypto: $(O)/bench-crypto
	$(O)/bench-crypto

# make bench: throughput and CPU per GiB against haproxy and libev, one run.
bench: all
	$(O)/bench-crypto 0.5
	SSBPF_BUILD=$(O) python3 tools/bench.py

# libFuzzer harnesses (clang, ASan + UBSan) over the same library sources.
FUZZ       := $(O)/fuzz
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(FUZZ_NAMES:%=$(FUZZ)/fuzz_%)
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
FUZZ_SECONDS ?= 60
$(FUZZ)/obj/%.o: user/%.c | $(O)/.deps
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS_COMMON) -I$(O) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ)/libpure.a: $(PURE_SRCS:user/%.c=$(FUZZ)/obj/%.o)
	rm -f $@ && ar rcs $@ $^
$(FUZZ)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ)/libpure.a
	$(CLANG) $(CFLAGS_COMMON) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ)/libpure.a $(PURE_LIBS) -o $@

# make fuzz: every harness for FUZZ_SECONDS, from the seed corpus in tests/fuzz/corpus.
fuzz: $(FUZZ_BINS)
	@SSBPF_BUILD=$(O) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_NAMES)

# make test: release build, sanitizer build, then every test layer.
test: all $(SAN)/unit-tests $(SAN_BINS) $(FUZZ_BINS)
	@tests/run.sh

# make torture: long randomized integrity rounds over every STREAM tier
# (make test runs 3 short ones); TORTURE_SEED=N re-runs one round.
TORTURE_ROUNDS ?= 10
TORTURE_CONNS ?= 200
torture: $(BINS)
	SSBPF_TORTURE_ROUNDS=$(TORTURE_ROUNDS) SSBPF_TORTURE_CONNS=$(TORTURE_CONNS) \
	$(if $(TORTURE_SEED),SSBPF_TORTURE_SEED=$(TORTURE_SEED)) python3 tests/integration/test_torture.py

# make vmtest [KERNEL=5.10|6.1|6.12|PATH]: the kernel-facing tests in a guest
# kernel under qemu (vmtest/README.md); make vmtest-matrix: on all three.
KERNEL ?= 6.1
vmtest: $(BINS)
	SSBPF_BUILD=$(O) vmtest/run.sh $(KERNEL)
vmtest-matrix: $(BINS)
	SSBPF_BUILD=$(O) vmtest/matrix.sh

run: $(BINS)
	@tools/run.sh

clean:
	rm -rf $(O)

-include $(wildcard $(O)/obj/*/*.d $(SAN)/obj/*/*.d $(O)/*.d $(SAN)/*.d $(FUZZ)/obj/*/*.d $(FUZZ)/*.d)
