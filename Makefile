# pidring — plain GNU make. `make V=1` shows full commands.
.DELETE_ON_ERROR:
.SUFFIXES:

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=

# The one version source is include/pidring.h.
ver = $(shell awk '/^\#define PIDRING_VERSION_$(1) /{print $$3}' include/pidring.h)
MAJOR   := $(call ver,MAJOR)
MINOR   := $(call ver,MINOR)
PATCH   := $(call ver,PATCH)
VERSION := $(MAJOR).$(MINOR).$(PATCH)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -D_GNU_SOURCE -Iinclude
DEPFLAGS = -MMD -MP
URING_CFLAGS := $(shell pkg-config --cflags liburing 2>/dev/null)
URING_LIBS   := $(shell pkg-config --libs liburing 2>/dev/null || echo -luring)

B       := build
SONAME  := libpidring.so.$(MAJOR)
SHLIB   := $(B)/libpidring.so.$(VERSION)
STLIB   := $(B)/libpidring.a
PC      := $(B)/pidring.pc

ENGINE_SRC := $(wildcard engine/*.c)
ENGINE_PIC := $(patsubst engine/%.c,$(B)/pic/%.o,$(ENGINE_SRC))
ENGINE_ST  := $(patsubst engine/%.c,$(B)/st/%.o,$(ENGINE_SRC))
LIBCFLAGS  := -std=gnu11 $(WARN) -fvisibility=hidden -DPIDRING_BUILDING $(URING_CFLAGS)

TEST_SRC := $(wildcard tests/*.c)
TEST_OBJ := $(patsubst tests/%.c,$(B)/tests/%.o,$(TEST_SRC))
TEST_BIN := $(B)/tests/pidring-tests
TEST_JOBS ?= 2
# The suite runs in two passes: every test but TEST_SOLO on TEST_JOBS
# workers, then TEST_SOLO alone. limits/ten_thousand_live keeps 10,000
# children of one binary alive and then kills them all; while their exits
# unmap that binary, a neighbour's child can wait in exec for seconds (seen:
# children in D state in elf_load for over 5 s) and a neighbour's test that
# waits on its child's timing fail. With TEST_ARGS (a filter, say): one pass.
TEST_SOLO := limits/ten_thousand_live
suite = $(if $(TEST_ARGS),$(1) -j$(TEST_JOBS) $(TEST_ARGS),$(1) -j$(TEST_JOBS) \
	--filter '!($(TEST_SOLO))' && $(1) -j1 --filter '$(TEST_SOLO)')

# Every tools/pidring-*.c but the child is a tool linked with the library;
# pidring-bench and pidring-stress are built from every module in
# tools/bench/ and tools/stress/ (a new module file is picked up as it is).
TOOL_SRC := $(filter-out tools/pidring-child.c,$(wildcard tools/pidring-*.c))
BENCH_SRC  := $(wildcard tools/bench/*.c)
STRESS_SRC := $(wildcard tools/stress/*.c)
BENCH_OBJ  := $(patsubst tools/%.c,$(B)/tools/%.o,$(BENCH_SRC))
STRESS_OBJ := $(patsubst tools/%.c,$(B)/tools/%.o,$(STRESS_SRC))
TOOLS := $(B)/pidring-child $(patsubst tools/%.c,$(B)/%,$(TOOL_SRC)) \
	$(B)/pidring-bench $(B)/pidring-stress

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

.PHONY: all lib tools check demo tour deps install uninstall clean stress bench bench-ci bench-plot
all: lib tools

lib: $(STLIB) $(B)/libpidring.so $(PC)

$(B)/pic/%.o: engine/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LIBCFLAGS) -fPIC $(DEPFLAGS) -c -o $@ $<

$(B)/st/%.o: engine/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LIBCFLAGS) $(DEPFLAGS) -c -o $@ $<

$(STLIB): $(ENGINE_ST)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(SHLIB): $(ENGINE_PIC) engine/pidring.map
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,-z,defs \
		-Wl,--version-script=engine/pidring.map -o $@ $(ENGINE_PIC) $(URING_LIBS)

$(B)/$(SONAME): $(SHLIB)
	$(Q)ln -sf $(notdir $<) $@
$(B)/libpidring.so: $(B)/$(SONAME)
	$(Q)ln -sf $(notdir $<) $@

$(PC): include/pidring.h Makefile
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
		'Name: pidring' 'Description: spawn, supervise and reap child processes on io_uring' \
		'Version: $(VERSION)' 'Requires.private: liburing' \
		'Libs: -L$${libdir} -lpidring' 'Cflags: -I$${includedir}' > $@

# The test child has no dependencies and is linked statically when the C
# library allows it: it is exec'd thousands of times a second by the bench.
$(B)/pidring-child: tools/pidring-child.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 $(CFLAGS) $(WARN) -static -o $@ $< 2>/dev/null || \
		$(CC) -std=gnu11 $(CFLAGS) $(WARN) -o $@ $<

$(B)/pidring-%: tools/pidring-%.c $(STLIB)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(CFLAGS) $(WARN) $(DEPFLAGS) -o $@ $< $(STLIB) $(URING_LIBS) -lpthread -lm

$(B)/tools/%.o: tools/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itools -std=gnu11 $(CFLAGS) $(WARN) $(DEPFLAGS) -c -o $@ $<

# The bench reports the liburing it was built against.
$(B)/tools/bench/json.o: CPPFLAGS += -DLIBURING_VERSION_STR='"$(shell pkg-config --modversion liburing 2>/dev/null || echo unknown)"'

$(B)/pidring-bench: $(BENCH_OBJ) $(STLIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(BENCH_OBJ) $(STLIB) $(URING_LIBS) -lpthread -lm

$(B)/pidring-stress: $(STRESS_OBJ) $(STLIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(STRESS_OBJ) $(STLIB) $(URING_LIBS) -lpthread -lm

tools: $(TOOLS)

$(B)/tests/%.o: tests/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(CFLAGS) $(WARN) -Wno-missing-prototypes $(DEPFLAGS) -c -o $@ $<

# The fault-injection build: the same engine with -DPR_FAULT_INJECTION, for
# tests/fault/ only; never installed.
FAULT_LIB := $(B)/fault/libpidring-fault.a
FAULT_OBJ := $(patsubst engine/%.c,$(B)/fault/%.o,$(ENGINE_SRC))
FAULT_BIN := $(B)/tests/pidring-fault-tests

$(B)/fault/%.o: engine/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LIBCFLAGS) -DPR_FAULT_INJECTION $(DEPFLAGS) -c -o $@ $<

$(FAULT_LIB): $(FAULT_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

FAULT_SRC := $(wildcard tests/fault/*.c)

$(FAULT_BIN): $(FAULT_SRC) $(B)/tests/helpers.o $(FAULT_LIB)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itests -std=gnu11 $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $(FAULT_SRC) \
		$(B)/tests/helpers.o $(FAULT_LIB) $(URING_LIBS) -lcriterion -lpthread

$(TEST_BIN): $(TEST_OBJ) $(STLIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(STLIB) $(URING_LIBS) -lcriterion -lpthread

# Packages the build and the tests need, by the command that shows each one.
# Stock sd_notify daemons the readiness tests start (they skip without them).
DAEMON_PKGS = redis-server haproxy
DEB_PKGS = liburing-dev libcriterion-dev pkg-config gcc make libc6-dev gnuplot-nox \
	$(DAEMON_PKGS) $(QUALITY_PKGS) $(PYTHON_PKGS) $(EXAMPLE_PKGS) $(MAN_PKGS)
deps:
	@missing=; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "missing packages:$$missing (install them as root: apt-get install$$missing)"; exit 1; \
	fi

check: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN) $(FAULT_BIN)
	PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child $(FAULT_BIN) -j$(TEST_JOBS)
	$(call suite,PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child $(TEST_BIN))
	@$(MAKE) --no-print-directory examples-check
	@$(MAKE) --no-print-directory man-check
	@$(MAKE) --no-print-directory python-check

# The main job: the chaos driver with its defaults (thousands of procs,
# engine teardowns, an audit of every rule). `make tour` is the short,
# readable walk-through.
demo: deps
	@$(MAKE) --no-print-directory all
	PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child $(B)/pidring-stress

tour: deps
	@$(MAKE) --no-print-directory all
	$(B)/pidring-demo $(CURDIR)/$(B)/pidring-child

# A long soak: 10^5 procs, on this kernel's paths and on the fallbacks.
stress: deps
	@$(MAKE) --no-print-directory all
	PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child $(B)/pidring-stress --procs 100000
	PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child $(B)/pidring-stress --procs 100000 --no-waitid --no-clone3

bench: deps
	@$(MAKE) --no-print-directory all
	PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child $(B)/pidring-bench --json $(B)/bench.json --csv $(B)/bench.csv

bench-ci: deps
	@$(MAKE) --no-print-directory all
	PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child $(B)/pidring-bench --quick --json $(B)/bench-quick.json

# docs/bench.png, drawn from a full run's JSON (the run is made first when
# $(B)/bench.json is not there).
bench-plot: deps
	@[ -r $(B)/bench.json ] || $(MAKE) --no-print-directory bench
	$(PYTHON) tools/bench/plot.py $(B)/bench.json docs/bench.png

install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/pidring.h $(DESTDIR)$(INCLUDEDIR)/pidring.h
	install -m 644 $(STLIB) $(DESTDIR)$(LIBDIR)/libpidring.a
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/libpidring.so.$(VERSION)
	ln -sf libpidring.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libpidring.so
	install -m 644 $(PC) $(DESTDIR)$(PKGCONFIGDIR)/pidring.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/pidring.h $(DESTDIR)$(LIBDIR)/libpidring.a \
		$(DESTDIR)$(LIBDIR)/libpidring.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libpidring.so $(DESTDIR)$(PKGCONFIGDIR)/pidring.pc

clean:
	rm -rf $(B)

include mk/quality.mk
include mk/python.mk
include mk/examples.mk
include mk/man.mk

# (The two tools built from modules once had a .d of their own one-file build.)
-include $(filter-out %/pidring-bench.d %/pidring-stress.d,\
	$(wildcard $(B)/*/*.d $(B)/*.d $(B)/tools/*/*.d))
