# Sanitizers, valgrind, static analysis and fuzzing (included by Makefile).
#
#   make check-asan       engine + whole suite under ASan+UBSan (build/asan/)
#   make check-valgrind   memcheck on a subset of the suite (normal build)
#   make analyze          gcc -fanalyzer and cppcheck over engine/*.c
#   make fuzz             libFuzzer (clang) on the notify parser and spec validator
#   make fuzz-driver      the same targets under a deterministic gcc driver
#   make quality          all of the above (CI)

QUALITY_PKGS := valgrind clang libclang-rt-14-dev cppcheck

.PHONY: quality check-asan check-valgrind analyze fuzz fuzz-driver

quality: check-asan check-valgrind analyze fuzz

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# ---------------------------------------------------------------- check-asan
AB := $(B)/asan
ASAN_ENGINE := $(patsubst engine/%.c,$(AB)/engine/%.o,$(ENGINE_SRC))
ASAN_TEST_OBJ := $(patsubst tests/%.c,$(AB)/tests/%.o,$(TEST_SRC))
ASAN_STLIB := $(AB)/libpidring.a
ASAN_TEST_BIN := $(AB)/pidring-tests
ASAN_CFLAGS := -O1 -g $(SAN_FLAGS)

# LeakSanitizer runs at the exit of each Criterion worker (one per test).
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=report_objects=1

$(AB)/engine/%.o: engine/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(ASAN_CFLAGS) $(LIBCFLAGS) $(DEPFLAGS) -c -o $@ $<

$(ASAN_STLIB): $(ASAN_ENGINE)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(AB)/tests/%.o: tests/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(ASAN_CFLAGS) $(WARN) -Wno-missing-prototypes $(DEPFLAGS) -c -o $@ $<

$(ASAN_TEST_BIN): $(ASAN_TEST_OBJ) $(ASAN_STLIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ASAN_CFLAGS) -o $@ $(ASAN_TEST_OBJ) $(ASAN_STLIB) $(URING_LIBS) -lcriterion

check-asan: deps
	@$(MAKE) --no-print-directory $(B)/pidring-child $(ASAN_TEST_BIN)
	$(ASAN_ENV) PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child $(ASAN_TEST_BIN) -j$(TEST_JOBS) $(TEST_ARGS)

-include $(wildcard $(AB)/*/*.d)
