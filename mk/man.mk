# docs/man/: a page per public function of include/pidring.h (section 3)
# and pidring(7), written in scdoc.
#
#   make man         build them into build/man/
#   make man-check   every function the header declares has its page, each
#                    page's synopsis is the header's declaration, man -l
#                    renders every page without a groff warning, and the
#                    example in pidring(7) builds and runs (make check runs it)
#   make install     installs them too, under $(MANDIR)/man3 and man7
#
# A new function: copy a page of the same shape (pidring_pid.3.scd is the
# smallest) to docs/man/<function>.3.scd and keep what man-check looks for:
# the preamble '<function>(3) "pidring @VERSION@" "pidring manual"' (the
# version is filled in here), a NAME line '<function> - what it does', the
# header's declaration inside the SYNOPSIS ``` block (spacing is free),
# then DESCRIPTION, RETURN VALUE, ERRORS (each -errno with when), SEE
# ALSO; and name '*<function>*(3)' in pidring(7)'s SEE ALSO. scdoc reads a
# line that starts with '-' or '. ' as a list item, and '\' as an escape.

MANDIR   ?= $(PREFIX)/share/man
MAN_PKGS := scdoc man-db groff-base
SCDOC    ?= scdoc

MAN_SRC := $(wildcard docs/man/*.scd)
MAN_OUT := $(patsubst docs/man/%.scd,$(B)/man/%,$(MAN_SRC))
MAN3    := $(filter %.3,$(MAN_OUT))
MAN7    := $(filter %.7,$(MAN_OUT))

# Pages carry the date of the last commit, so that a rebuild changes nothing.
MAN_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null)

.PHONY: man man-check man-install man-uninstall

man: $(MAN_OUT)

# In steps, not a pipe, so that a failing scdoc fails the rule. The .nh
# after .TH (which turns hyphenation back on) keeps the identifiers the
# pages are full of whole.
$(B)/man/%: docs/man/%.scd include/pidring.h mk/man.mk
	$(call msg,SCDOC,$@)
	@mkdir -p $(@D)
	$(Q)sed 's/@VERSION@/$(VERSION)/g' $< > $@.in
	$(Q)$(if $(MAN_EPOCH),SOURCE_DATE_EPOCH=$(MAN_EPOCH)) $(SCDOC) < $@.in > $@.roff
	$(Q)sed '/^\.TH /a .nh' $@.roff > $@ && rm -f $@.in $@.roff

# pidring(7)'s example, as a reader would copy it out of the page.
$(B)/man/example.c: docs/man/pidring.7.scd tools/man-check.sh
	@mkdir -p $(@D)
	$(Q)tools/man-check.sh example $< > $@

$(B)/man/example: $(B)/man/example.c $(STLIB)
	$(call msg,CC,$@)
	$(Q)$(CC) -Iinclude -std=gnu11 $(CFLAGS) $(WARN) -o $@ $< $(STLIB) $(URING_LIBS)

# The example runs against a bind runner in a runtime directory of its own,
# which must be empty (and so removable) once it returns.
man-check: $(MAN_OUT) $(B)/man/example $(B)/pidring-child
	$(Q)tools/man-check.sh pages include/pidring.h docs/man
	$(Q)tools/man-check.sh render $(MAN_OUT)
	@echo "  RUN    $(B)/man/example"
	$(Q)d=$$(mktemp -d) && st=0 && \
	PIDRING_RUNTIME_DIR=$$d timeout -k 5 60 $(B)/man/example \
		$(CURDIR)/$(B)/pidring-child --socket '{socket}' --bind-after-ms 0 || \
		{ echo "man-check: the example of pidring(7) failed"; st=1; }; \
	rmdir $$d 2>/dev/null || { echo "man-check: the example left files:"; \
		find $$d; rm -rf $$d; st=1; }; \
	exit $$st
	@echo "man-check: $(words $(MAN3)) pages in section 3, $(words $(MAN7)) in section 7"

man-install: man
	install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/

man-uninstall:
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN3))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(MAN7)))

install: man-install
uninstall: man-uninstall
