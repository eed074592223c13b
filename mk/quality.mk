# Sanitizers, valgrind, static analysis and fuzzing (included by Makefile).
#
#   make check-asan       the engine and the whole suite under ASan + UBSan
#   make check-valgrind   memcheck on a subset of the suite (see VG_FILTER)
#   make analyze          gcc -fanalyzer, cppcheck and clang-tidy on engine/*.c
#   make fuzz             the fuzz targets: deterministic driver (gcc), then
#                         libFuzzer (clang) for FUZZ_TIME seconds each
#   make fuzz-driver      the deterministic driver alone
#   make quality          all of the above (what CI runs)
#
# Everything builds under $(B)/asan, $(B)/analyze and $(B)/fuzz; the normal
# build is only used for the pidring-child runner and by valgrind.

# Debian packages these targets need on top of DEB_PKGS.
QUALITY_PKGS := valgrind libc6-dbg clang libclang-rt-14-dev clang-tidy cppcheck

.PHONY: quality check-asan check-valgrind analyze analyze-gcc analyze-cppcheck \
	analyze-tidy fuzz fuzz-driver fuzz-libfuzzer

# One after the other (they share the 2 cores), each to its end even when
# one before it failed, so that one run reports every gate; fails if any did.
QUALITY_GATES := check-layers check-asan check-valgrind analyze fuzz

# The engine's layering, read from its objects (tools/layers.py): no cycle
# among engine/*.c, no file over 600 lines, no function over 60.
check-layers: $(ENGINE_ST)
	python3 tools/layers.py --src engine $(ENGINE_ST)

quality:
	@failed=; for g in $(QUALITY_GATES); do \
		echo "==== make $$g"; t0=$$(date +%s); r=ok; \
		$(MAKE) --no-print-directory $$g || { failed="$$failed $$g"; r=FAILED; }; \
		echo "==== make $$g: $$r in $$(( $$(date +%s) - t0 )) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "quality: FAILED:$$failed"; exit 1; fi; \
	echo "quality: all gates passed ($(QUALITY_GATES))"

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
SAN_CFLAGS := -O1 -g $(SAN_FLAGS)
# gcc's -Wmaybe-uninitialized misfires on sanitizer-instrumented code (the
# gcc manual says so under -fsanitize=address); the normal build keeps it.
GCC_SAN_WARN := -Wno-maybe-uninitialized

# ------------------------------------------------------------------ ASan
# The engine, every tests/*.c and the tools rebuilt with ASan + UBSan in
# $(AB)/. The tests look for tools (pidring-stress) next to the child
# program, so $(AB)/ gets a copy of the normal pidring-child: it is exec'd,
# not under test (and statically linked).
#
# Criterion runs each test in a worker process and ignores how the worker
# exits once it has reported, so a LeakSanitizer report at a worker's exit
# would not fail anything. ASan and LSan reports therefore go to $(AB)/logs/
# (log_path) and UBSan's, which gcc's runtime prints to stderr whatever its
# log_path, are found in the suite's output ($(AB)/suite.log): any of either
# fails the target once the suite has run. LeakSanitizer is on in the
# workers and off in Criterion's runner (mk/asan-hooks.c says why).
#
# The spawn child (pr_child) runs on the engine's own clone stack, which ASan
# does not know: unless pr_child and pr_fail are built without ASan
# (__attribute__((no_sanitize("address"))) in engine/spawn.c), each child
# that fails before exec reports "ASan is ignoring requested
# __asan_handle_no_return ... False positive error reports may follow".
AB := $(B)/asan
ASAN_ENGINE   := $(patsubst engine/%.c,$(AB)/engine/%.o,$(ENGINE_SRC))
ASAN_TEST_OBJ := $(patsubst tests/%.c,$(AB)/tests/%.o,$(TEST_SRC)) $(AB)/asan-hooks.o
ASAN_STLIB    := $(AB)/libpidring.a
ASAN_TEST_BIN := $(AB)/pidring-tests
# The tools the suite runs (tests/test_stress.c: pidring-stress).
ASAN_TOOLS    := $(AB)/pidring-child $(AB)/pidring-stress
ASAN_LOGS     := $(AB)/logs
ASAN_ENV := \
	ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:log_path=$(CURDIR)/$(ASAN_LOGS)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	PIDRING_CHILD=$(CURDIR)/$(AB)/pidring-child

$(AB)/engine/%.o: engine/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(SAN_CFLAGS) $(LIBCFLAGS) $(GCC_SAN_WARN) $(DEPFLAGS) -c -o $@ $<

$(ASAN_STLIB): $(ASAN_ENGINE)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(AB)/tests/%.o: tests/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(SAN_CFLAGS) $(WARN) $(GCC_SAN_WARN) -Wno-missing-prototypes \
		$(DEPFLAGS) -c -o $@ $<

$(AB)/asan-hooks.o: mk/asan-hooks.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(CFLAGS) $(WARN) -c -o $@ $<

$(ASAN_TEST_BIN): $(ASAN_TEST_OBJ) $(ASAN_STLIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $(ASAN_TEST_OBJ) $(ASAN_STLIB) $(URING_LIBS) -lcriterion -lpthread

$(AB)/pidring-child: $(B)/pidring-child
	$(Q)mkdir -p $(@D) && cp -f $< $@

# Warnings stay warnings here: -O1 and the sanitizers change what gcc's
# flow-sensitive warnings see, and the tools' own build has -Werror.
$(AB)/pidring-%: tools/pidring-%.c $(ASAN_STLIB)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(SAN_CFLAGS) $(WARN) -Wno-error $(DEPFLAGS) -o $@ \
		$(filter %.c,$^) $(ASAN_STLIB) $(URING_LIBS) -lpthread -lm

$(AB)/pidring-stress: $(STRESS_SRC) $(wildcard tools/stress/*.h) $(ASAN_STLIB)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Itools -std=gnu11 $(SAN_CFLAGS) $(WARN) -Wno-error -o $@ $(STRESS_SRC) \
		$(ASAN_STLIB) $(URING_LIBS) -lpthread -lm

check-asan: deps
	@$(MAKE) --no-print-directory $(ASAN_TOOLS) $(ASAN_TEST_BIN)
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	@echo "$(call suite,$(ASAN_TEST_BIN))"
	@{ ( $(call suite,$(ASAN_ENV) $(ASAN_TEST_BIN)) ) 2>&1; echo $$? > $(AB)/suite.rc; } | \
		tee $(AB)/suite.log; \
	st=$$(cat $(AB)/suite.rc); n=0; \
	for f in $(ASAN_LOGS)/*; do [ -e "$$f" ] || continue; echo "== $$f"; cat "$$f"; n=$$((n + 1)); done; \
	u=$$(grep -c 'runtime error:' $(AB)/suite.log); \
	if [ $$n -gt 0 ] || [ $$u -gt 0 ]; then \
		echo "check-asan: $$n ASan/LSan report(s) above, $$u UBSan report(s) in $(AB)/suite.log:"; \
		grep 'runtime error:' $(AB)/suite.log | sort | uniq -c; exit 1; \
	fi; \
	echo "check-asan: no sanitizer report"; exit $$st

# -------------------------------------------------------------- valgrind
# memcheck on the normal test binary. Criterion runs each test in a worker it
# fork+execs from its own binary, so valgrind follows children; what the
# engine spawns (pidring-child, /bin/sh, ...) is skipped. Each process writes
# $(B)/valgrind/<pid>.log; any log without "0 errors" fails the target, as
# does a failing test. Leak errors count only for definitely lost blocks.
#
# What valgrind 3.19 (Debian 12) cannot run, and so VG_TESTS leaves out:
#  - clone3 is refused (ENOSYS), so the engine spawns through clone(), as
#    on a kernel without clone3; and clone(CLONE_VM|CLONE_VFORK) becomes a
#    plain fork under valgrind (it
#    cannot share its own memory between two processes): the child's write of
#    an exec, cwd, rlimit or credential failure into the parent's memory is
#    lost, pidring_spawn returns 0 and the proc exits 127. Tests asserting
#    those errors (spawn/exec_failures, ready/failed_spawn_leaves_nothing,
#    security/rlimit*, security/credentials*) cannot pass.
#  - pidfd_send_signal (424) is unknown to it (ENOSYS): every cancel and stop
#    would fail. mk/valgrind-shim.c, preloaded, emulates it with kill().
#  - pidfd_open (434) is unknown to it too, and cannot be emulated: the tests
#    that watch descendants with it (group/, tree/, most of cgroup/ and
#    subreaper/) are left out.
#  - the environment it adds (LD_PRELOAD, ...) fails the exact-environment
#    tests; with SIGCHLD ignored it does not auto-reap as the kernel does.
# One variant (WAITID or the POLL_ADD fallback) of most tests, both for the
# core suites: each worker costs about a second of valgrind start-up.
VG_TESTS := \
	spawn/!(exec_failures*) \
	errors/* \
	cancel/* \
	stop/* \
	inherit/!(null_envp_is_environ*|*_fallback) \
	ready/@(bind_happy_path|bind_then_late_listen|bind_exit_after_ready|argv_socket_substitution|notify_happy_path|notify_garbage_from_child|notify_foreign_datagrams|extend_timeout|ready_timeout|exit_before_ready|cancel_while_connect_refused|double_cancel_while_binding|stale_socket_unlinked|non_socket_at_path_is_eexist|probe_on_full_backlog)_waitid \
	ready/@(cancel_while_binding_race_waitid|cancel_while_notifying_race_fallback|bind_happy_path_fallback|notify_happy_path_fallback) \
	engine/@(destroy_timeout_zero_still_reaps|destroy_wait_forever|max_procs_limit|small_ring_many_procs|wait_forever_and_one_at_a_time|host_thread_reaps_with_waitpid) \
	security/@(no_new_privs|groups_null_with_count_is_einval|rlimits_invalid_are_einval|socket_mapped_to_child_fd3|unmapped_non_cloexec_fds_not_inherited) \
	cgroup/@(bad_cgroup_dir_refused|plain_child_exits|many_procs_each_own_cgroup) \
	subreaper/no_orphans_plain_children \
	pool/@(single_flight_100_gets|evict_during_spawn|idle_ttl_expiry|crash_and_reget|destroy_with_gets_in_flight|cap_lru|cap_eagain|bad_input|warm_runners|idle_ttl_wakes_blocking_wait|crash_before_ready)
QM_EMPTY :=
QM_SPACE := $(QM_EMPTY) $(QM_EMPTY)
VG_FILTER ?= @($(subst $(QM_SPACE),|,$(strip $(VG_TESTS))))
VG_TEST_JOBS ?= 1
VG_LOGS := $(B)/valgrind
VG_SHIM := $(VG_LOGS)-shim.so
VALGRIND := valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--trace-children=yes --trace-children-skip='*/pidring-child,/bin/*,/usr/bin/*' \
	--child-silent-after-fork=yes --suppressions=mk/valgrind.supp --num-callers=30 \
	--log-file=$(VG_LOGS)/%p.log

$(VG_SHIM): mk/valgrind-shim.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(CFLAGS) $(WARN) -shared -fPIC -o $@ $< -ldl

check-valgrind: deps
	@$(MAKE) --no-print-directory $(B)/pidring-child $(TEST_BIN) $(VG_SHIM)
	@rm -rf $(VG_LOGS) && mkdir -p $(VG_LOGS)
	@st=0; set -x; PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child LD_PRELOAD=$(CURDIR)/$(VG_SHIM) \
		$(VALGRIND) $(TEST_BIN) -j$(VG_TEST_JOBS) --filter '$(VG_FILTER)' $(TEST_ARGS) || st=$$?; \
	set +x; \
	if grep -q 'unhandled amd64-linux syscall' $(VG_LOGS)/*.log; then \
		echo "valgrind: syscalls it does not know (they failed with ENOSYS):"; \
		grep -h 'unhandled amd64-linux syscall' $(VG_LOGS)/*.log | sed 's/^--[0-9]*-- //' | sort | uniq -c; \
	fi; \
	bad=$$(grep -L 'ERROR SUMMARY: 0 errors' $(VG_LOGS)/*.log); \
	if [ -n "$$bad" ]; then \
		for f in $$bad; do echo "== $$f"; grep -v '^==[0-9]*== *$$' $$f; done; \
		echo "check-valgrind: errors in $$(echo $$bad | wc -w) process(es), above"; exit 1; \
	fi; \
	echo "check-valgrind: $$(ls $(VG_LOGS) | wc -l) processes, 0 errors, 0 definitely lost"; \
	exit $$st

# --------------------------------------------------------------- analyze
# Each tool's findings in the engine fail the target. False positives get a
# narrow suppression with its reason: mk/analyzer.supp (gcc), .cppcheck-
# suppressions (cppcheck); for clang-tidy, the checks list below.
AZ := $(B)/analyze
ANALYZER_SUPP := mk/analyzer.supp
ANALYZE_GCC_OUT := $(patsubst engine/%.c,$(AZ)/%.gcc,$(ENGINE_SRC))
ANALYZE_TIDY_OUT := $(patsubst engine/%.c,$(AZ)/%.tidy,$(ENGINE_SRC))

analyze: deps
	@failed=; for t in analyze-gcc analyze-cppcheck analyze-tidy; do \
		$(MAKE) --no-print-directory -k $$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "analyze: findings from:$$failed"; exit 1; fi

# gcc -fanalyzer writes each file's findings to $(AZ)/<file>.gcc; the filter
# drops the suppressed ones and fails on the rest.
$(AZ)/%.gcc: engine/%.c mk/quality.mk
	$(call msg,ANALYZE,$<)
	@mkdir -p $(@D)
	$(Q)LC_ALL=C $(CC) $(CPPFLAGS) $(CFLAGS) $(LIBCFLAGS) -Wno-error -fanalyzer \
		-fdiagnostics-color=never -MMD -MP -MF $(AZ)/$*.d -MT $@ \
		-c -o /dev/null $< 2> $@.tmp && mv $@.tmp $@

analyze-gcc: $(ANALYZE_GCC_OUT)
	@LC_ALL=C awk -f mk/analyzer-filter.awk $(ANALYZER_SUPP) $(ANALYZE_GCC_OUT)

CPPCHECK := cppcheck --enable=warning,style,performance,portability --inconclusive \
	--library=gnu --std=c11 --inline-suppr --error-exitcode=1 --quiet \
	--suppressions-list=.cppcheck-suppressions --cppcheck-build-dir=$(AZ)/cppcheck \
	--template='{file}:{line}: {severity}: {id}: {message}' \
	-D_GNU_SOURCE -DPIDRING_BUILDING -D__linux__ -D__x86_64__ -Iinclude -Iengine

analyze-cppcheck:
	@mkdir -p $(AZ)/cppcheck
	$(call msg,CPPCHECK,engine)
	$(Q)$(CPPCHECK) engine

# clang's static analyzer and the bug-finding clang-tidy checks, minus:
#  - insecureAPI.*: strcpy/memcpy hygiene (C11 Annex K); the engine sizes
#    every buffer before it copies;
#  - easily-swappable-parameters, reserved-identifier: naming and API style;
#  - branch-clone: separate arms for separate causes are on purpose
#    (tree.c: "cannot be removed: give up" vs. "removed");
#  - implicit-widening-of-multiplication-result: constant products that fit;
#  - not-null-terminated-result: flags every memcpy of part of a string,
#    which is how the engine builds argv/envp strings (terminated after).
TIDY_CHECKS := -*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.*,bugprone-*,$\
	-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,$\
	-bugprone-branch-clone,-bugprone-implicit-widening-of-multiplication-result,$\
	-bugprone-not-null-terminated-result
CLANG_TIDY ?= clang-tidy

$(AZ)/%.tidy: engine/%.c $(wildcard engine/*.h) include/pidring.h mk/quality.mk
	$(call msg,TIDY,$<)
	@mkdir -p $(@D)
	$(Q)$(CLANG_TIDY) --quiet -checks='$(TIDY_CHECKS)' --warnings-as-errors='*' $< -- \
		$(CPPFLAGS) -DPIDRING_BUILDING $(URING_CFLAGS) -std=gnu11 > $@.tmp 2>&1 || \
		{ grep -v '^[0-9]* warnings\? generated' $@.tmp; rm -f $@.tmp; exit 1; }
	$(Q)mv $@.tmp $@

analyze-tidy: $(ANALYZE_TIDY_OUT)

# ------------------------------------------------------------------ fuzz
# Two targets: fuzz/fuzz_notify.c (pr_notify_parse) and fuzz/fuzz_spec.c
# (pr_spawn_validate). Each links the whole engine built with the same
# sanitizers. The deterministic driver (fuzz/driver.c, gcc) runs first: the
# hand-written seeds, then FUZZ_RUNS inputs from a fixed seed; its seeds are
# then the corpus libFuzzer starts from, for FUZZ_TIME seconds per target.
# Findings land in $(FB)/<target>-crash-*; replay one by passing its path
# to either binary.
FB := $(B)/fuzz
FUZZ_TARGETS := fuzz_notify fuzz_spec
FUZZ_RUNS ?= 1000000
FUZZ_TIME ?= 20
FUZZ_CC ?= clang
FUZZ_CPPFLAGS = $(CPPFLAGS) -Iengine $(URING_CFLAGS)
FUZZ_MAXLEN_fuzz_notify := 4096
FUZZ_MAXLEN_fuzz_spec := 1024

FUZZ_DEPS := fuzz/driver.c $(wildcard engine/*.h) include/pidring.h

$(FB)/driver/%: fuzz/%.c $(FUZZ_DEPS) $(ASAN_STLIB)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FUZZ_CPPFLAGS) -std=gnu11 $(SAN_CFLAGS) $(WARN) $(GCC_SAN_WARN) -o $@ \
		$< fuzz/driver.c $(ASAN_STLIB) $(URING_LIBS)

define FUZZ_DRIVER_RUN
@printf '  %-6s %s\n' FUZZ '$(1) (driver, $(FUZZ_RUNS) runs)'
$(Q)$(FB)/driver/$(1) -runs=$(FUZZ_RUNS) -max_len=$(FUZZ_MAXLEN_$(1)) -artifact_prefix=$(FB)/$(1)-

endef

fuzz-driver: $(addprefix $(FB)/driver/,$(FUZZ_TARGETS))
	$(foreach t,$(FUZZ_TARGETS),$(call FUZZ_DRIVER_RUN,$(t)))

# The engine for libFuzzer: clang, coverage-instrumented, same sanitizers.
FUZZ_ENGINE := $(patsubst engine/%.c,$(FB)/engine/%.o,$(ENGINE_SRC))
FUZZ_STLIB  := $(FB)/libpidring.a

$(FB)/engine/%.o: engine/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(SAN_CFLAGS) -fsanitize=fuzzer-no-link $(LIBCFLAGS) \
		$(DEPFLAGS) -c -o $@ $<

$(FUZZ_STLIB): $(FUZZ_ENGINE)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(FB)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_DEPS) $(FUZZ_STLIB)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) -std=gnu11 $(SAN_CFLAGS) -fsanitize=fuzzer $(WARN) \
		-o $@ $< $(FUZZ_STLIB) $(URING_LIBS)

# The driver's seeds are the starting corpus; what libFuzzer adds to it
# stays in $(FB)/corpus/ for the next run. Its log is $(FB)/<target>.log.
define FUZZ_LIBFUZZER_RUN
@printf '  %-6s %s\n' FUZZ '$(1) (libFuzzer, $(FUZZ_TIME) s)'
@mkdir -p $(FB)/corpus/$(1)
$(Q)$(FB)/driver/$(1) -dump_seeds=$(FB)/corpus/$(1)
$(Q)$(FB)/$(1) -max_total_time=$(FUZZ_TIME) -max_len=$(FUZZ_MAXLEN_$(1)) -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(FB)/$(1)- \
	$(FB)/corpus/$(1) > $(FB)/$(1).log 2>&1 || \
	{ grep -v '^#[0-9]' $(FB)/$(1).log | tail -60; exit 1; }
@grep -E '^(Done|stat::(new_units_added|average_exec_per_sec))' $(FB)/$(1).log | sed 's/^/         /'

endef

fuzz-libfuzzer: $(addprefix $(FB)/,$(FUZZ_TARGETS)) $(addprefix $(FB)/driver/,$(FUZZ_TARGETS))
	$(foreach t,$(FUZZ_TARGETS),$(call FUZZ_LIBFUZZER_RUN,$(t)))

# libFuzzer where clang has it; the deterministic driver always.
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-driver
	@if printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' | \
		$(FUZZ_CC) -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory fuzz-libfuzzer; \
	else \
		echo "fuzz: $(FUZZ_CC) has no libFuzzer (apt-get install clang libclang-rt-14-dev): driver only"; \
	fi

# (not the .d of pidring-stress's old one-file build: it names a file gone since)
-include $(filter-out %/pidring-stress.d,$(wildcard $(AB)/*/*.d $(AZ)/*.d $(FB)/*.d $(FB)/*/*.d))
