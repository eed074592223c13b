# examples/: programs a user would start from, each built against the
# installed-style API (pidring.h, the static library; no -D flags: each
# example says what it needs itself) and run by `make check`.
# Each one checks itself (children, fds, files) and exits 0 only when clean.
#
#   make examples         build them
#   make examples-check   build and run them (make check runs it)

EXAMPLE_PKGS := libuv1-dev
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))

# The libuv loop links libuv as pkg-config says; the others need nothing more.
UV_CFLAGS := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS   := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
$(B)/examples/libuv_loop: EXAMPLE_CFLAGS := $(UV_CFLAGS)
$(B)/examples/libuv_loop: EXAMPLE_LIBS := $(UV_LIBS)

.PHONY: examples examples-check

examples: $(EXAMPLE_BIN)

$(B)/examples/%: examples/%.c $(STLIB)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -Iinclude -std=gnu11 $(CFLAGS) $(WARN) $(EXAMPLE_CFLAGS) $(DEPFLAGS) -o $@ $< \
		$(STLIB) $(URING_LIBS) $(EXAMPLE_LIBS)

# One at a time, each bounded: an example that hangs fails the check.
examples-check: $(EXAMPLE_BIN) $(B)/pidring-child
	@for x in $(EXAMPLE_BIN); do \
		echo "  RUN    $$x"; \
		PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child timeout -k 5 120 $$x || \
			{ echo "$$x failed"; exit 1; }; \
	done
