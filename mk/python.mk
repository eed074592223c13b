# The Python binding (python/): a CPython extension, pidring._pidring, and the
# asyncio layer over it, pidring/__init__.py. The extension is linked from
# the engine's PIC objects, so it needs neither libpidring.so nor an rpath.
# Debian's python3 on purpose: pytest and pytest-asyncio are Debian's
# packages, and another python3 on PATH would not see them.
#
#   make python          build the extension in place (python/pidring/)
#   make python-check    its pytest suite (make check runs it)
#   make install         installs it too, under PYTHON_SITEDIR

PYTHON      ?= /usr/bin/python3
PYTHON_PKGS := python3-dev python3-pytest python3-pytest-asyncio
PYTEST_ARGS ?=
PYTEST_TIMEOUT ?= 900

# One interpreter start for the three facts: headers, module suffix, version.
PY_CFG := $(shell $(PYTHON) -c 'import sys, sysconfig; print(sysconfig.get_path("include"), \
	sysconfig.get_config_var("EXT_SUFFIX"), "%d.%d" % sys.version_info[:2])' 2>/dev/null)
PY_INCLUDE := $(word 1,$(PY_CFG))
PY_EXT     := $(or $(word 2,$(PY_CFG)),.so)
PY_VER     := $(word 3,$(PY_CFG))
# Debian's python3 searches <prefix>/lib/python3.X/dist-packages for both
# /usr and /usr/local.
PYTHON_SITEDIR ?= $(PREFIX)/lib/python$(PY_VER)/dist-packages

PY_DIR := python/pidring
PY_MOD := $(PY_DIR)/_pidring$(PY_EXT)
PY_SRC := $(wildcard $(PY_DIR)/*.py)

.PHONY: python python-check python-install python-uninstall python-clean

python: $(PY_MOD)

$(PY_MOD): $(PY_DIR)/_pidring.c $(PY_DIR)/_pidring.map $(ENGINE_PIC)
	$(call msg,CC,$@)
	@mkdir -p $(B)/python
	$(Q)$(CC) $(CPPFLAGS) -I$(PY_INCLUDE) -std=gnu11 $(CFLAGS) $(WARN) -fPIC -shared \
		-MMD -MP -MF $(B)/python/_pidring.d -MT $@ \
		-Wl,--version-script=$(PY_DIR)/_pidring.map -o $@ $< $(ENGINE_PIC) $(URING_LIBS)

# No bytecode or cache files in the source tree; pytest's exit code is make's.
python-check: python $(B)/pidring-child
	cd python && PYTHONPATH=$(CURDIR)/python PYTHONDONTWRITEBYTECODE=1 \
		PIDRING_CHILD=$(CURDIR)/$(B)/pidring-child \
		timeout -k 10 $(PYTEST_TIMEOUT) $(PYTHON) -m pytest -p no:cacheprovider -ra $(PYTEST_ARGS)

python-install: python
	install -d $(DESTDIR)$(PYTHON_SITEDIR)/pidring
	install -m 644 $(PY_SRC) $(DESTDIR)$(PYTHON_SITEDIR)/pidring/
	install -m 755 $(PY_MOD) $(DESTDIR)$(PYTHON_SITEDIR)/pidring/

python-uninstall:
	rm -rf $(DESTDIR)$(PYTHON_SITEDIR)/pidring

python-clean:
	rm -f $(PY_DIR)/_pidring*.so

install: python-install
uninstall: python-uninstall
clean: python-clean
