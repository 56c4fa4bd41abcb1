# SPDX-License-Identifier: GPL-2.0
# aiopoll: user-facing entry points. The module itself is described by ./Kbuild; the
# scripts under scripts/ provision the toolchain, the test kernel and the VM, and cache them
# under ${AIOPOLL_CACHE:-$XDG_CACHE_HOME/aiopoll}.
#
#   make run            boot Debian's stock kernel, load aiopoll.ko and run the demo
#                       (RUN_KERNEL=test: the project's KASAN + lockdep kernel instead)
#   make check          the whole test suite in the VM (STRESS=full for full stress counts;
#                       STOCK=0 skips the guests of Debian's stock kernels; VNG=1 runs
#                       the guests with virtme-ng, which sees the host's root file system)
#   make userspace      libaiopoll (libaio API), the examples and the Rust crate, into build/
#   make install PREFIX=/usr/local   install libaiopoll, its headers, the libaio.so.1 drop-in
#                       and the man pages (LIBDIR, INCLUDEDIR, MANDIR, DESTDIR;
#                       make uninstall with the same variables undoes it)
#   make fuzz SECONDS=N [SEED=S]     the ioctl fuzzer in the VM for N seconds
#   make vm-run RUN='<cmd>' SHARE=/abs/dir   run your own command in the guest (VNG=1:
#                       in the virtme-ng guest, where the host's own programs run)
#   make bench          readiness-polling benchmark: aiopoll, fs/aio, io_uring, epoll (RUNS=5)
#   make KDIR=/path     build aiopoll.ko against your own prepared kernel tree, or Debian's
#                       headers (/lib/modules/$(uname -r)/build)
#   make modules_install KDIR=/path  install it into /lib/modules/RELEASE/updates, depmod,
#                       and the udev rule into /etc/udev/rules.d (UDEV_RULES_DIR); with
#                       MODULE_SIG_KEY=key.pem MODULE_SIG_CERT=cert.der signed for Secure Boot
#
# `make help` lists everything.

# Passed to the scripts through the environment.
export KDIR LLVM SHARE STRESS TIMEOUT TESTS RUNS BENCH_SECONDS VNG
# Installation layout: LIBDIR=/usr/lib/x86_64-linux-gnu for multiarch. DESTDIR is prepended
# to every path at install time and appears in no installed file.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
MANPAGES := $(wildcard man/man3/*.3 man/man4/*.4)
LIBMAKE = $(MAKE) -s -C lib O=$(CURDIR)/build PREFIX=$(PREFIX) LIBDIR=$(LIBDIR) \
	INCLUDEDIR=$(INCLUDEDIR) DESTDIR=$(DESTDIR)

# The command of vm-run, exactly as given: make must not expand the $ in it, nor must the
# host shell; it reaches vm.sh through the environment.
AIOPOLL_RUN := $(value RUN)
export AIOPOLL_RUN

SCRIPTS := $(CURDIR)/scripts

.PHONY: all module modules_install selftests userspace install uninstall run check fuzz vm-run kernel kernel-perf bench bench-iopoll fmt fmt-check lint \
	clean help

all: module selftests

module:
	@$(SCRIPTS)/build.sh module

modules_install:
	@INSTALL_MOD_PATH=$(INSTALL_MOD_PATH) UDEV_RULES_DIR=$(UDEV_RULES_DIR) \
		MODULE_SIG_KEY=$(MODULE_SIG_KEY) MODULE_SIG_CERT=$(MODULE_SIG_CERT) $(SCRIPTS)/build.sh modules_install

selftests:
	@$(SCRIPTS)/build.sh selftests

userspace:
	@$(SCRIPTS)/build.sh userspace

install:
	@$(LIBMAKE) install
	@install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man4
	@install -m 644 $(filter %.3,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man3/
	@install -m 644 $(filter %.4,$(MANPAGES)) $(DESTDIR)$(MANDIR)/man4/

uninstall:
	@$(LIBMAKE) uninstall
	@rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/%,$(MANPAGES))

run:
	@$(SCRIPTS)/run.sh

check:
	@$(SCRIPTS)/check.sh

# The kernel and the payload are looked up first, each in an assignment of its own, so that
# their failure stops the recipe with their own message (a substitution inside vm.sh's
# arguments would hide it and run vm.sh with an empty --payload).
vm-run: module
	@test -n "$$AIOPOLL_RUN" || { echo "usage: make vm-run RUN='<shell command>' [SHARE=/abs/dir]"; exit 2; }
	@kdir=$$($(SCRIPTS)/build.sh kdir) && payload=$$($(SCRIPTS)/build.sh payload) && \
		exec $(SCRIPTS)/$(if $(filter 1,$(VNG)),vng.sh,vm.sh) --payload "$$payload" --kernel "$$kdir" \
		$(if $(SHARE),--share "$(SHARE)") --timeout $(or $(TIMEOUT),1200) -- "$$AIOPOLL_RUN"

# The ioctl fuzzer alone for SECONDS (default 60), then a kmemleak scan and the unload test.
fuzz:
	@FUZZ_SECONDS=$(or $(SECONDS),60) FUZZ_SEED=$(SEED) $(SCRIPTS)/fuzz.sh

kernel:
	@$(SCRIPTS)/kernel.sh build test

kernel-perf:
	@$(SCRIPTS)/kernel.sh build perf

# Readiness-polling benchmark (not a test): aiopoll, fs/aio, io_uring and epoll polls.
bench:
	@$(SCRIPTS)/bench.sh

# Polled I/O benchmark (not a test): aiopoll HIPRI, aiopoll, fs/aio, io_uring IOPOLL.
bench-iopoll:
	@$(SCRIPTS)/bench-iopoll.sh

fmt:
	@$(SCRIPTS)/build.sh fmt

fmt-check:
	@$(SCRIPTS)/build.sh fmt --check

# Clippy over the module, as kbuild runs it (CLIPPY=1), plus the rustfmt check.
lint: fmt-check
	@$(SCRIPTS)/build.sh clippy

clean:
	rm -rf build *.ko *.o *.mod *.mod.c *.mod.o .*.cmd modules.order Module.symvers \
		rust/*.o rust/*.bc rust/.*.cmd rust/*.d .tmp_versions

help:
	@sed -n '2,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
	@echo "Other targets: module modules_install selftests userspace install uninstall fuzz kernel kernel-perf bench bench-iopoll fmt fmt-check lint clean"
