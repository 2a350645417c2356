# mk/install.mk — included by the Makefile: the shared library, `make install`,
# `make uninstall`, `make install-python`, the pkg-config file.
#
#   make shared                      build/libmedsam.so.X.Y.Z (+ the .so.X and .so links)
#   make install PREFIX=/usr/local DESTDIR=
#   make uninstall PREFIX=/usr/local DESTDIR=
#   make install-python              the Python package into $(PYTHONDIR)
#
# The shared library is built from its own position-independent objects
# (build/pic/) compiled with -fvisibility=hidden; include/medsam.h marks its
# declarations visible and mk/medsam.map exports medsam_* only. bin/medsam links
# the static library (the command uses internal modules beyond the public API).

VERSION_MAJOR := $(shell sed -n 's/^\#define MEDSAM_VERSION_MAJOR \([0-9]*\).*/\1/p' include/medsam.h)
VERSION_MINOR := $(shell sed -n 's/^\#define MEDSAM_VERSION_MINOR \([0-9]*\).*/\1/p' include/medsam.h)
VERSION_PATCH := $(shell sed -n 's/^\#define MEDSAM_VERSION_PATCH \([0-9]*\).*/\1/p' include/medsam.h)
VERSION       := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME        := libmedsam.so.$(VERSION_MAJOR)
SHLIB         := libmedsam.so.$(VERSION)

PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PYTHON       ?= /usr/bin/python3
PYTHONDIR    ?= $(PREFIX)/lib/python3/dist-packages
INSTALL      ?= install
# The bundled default model (models/, once `make default-model` has made it): bin/medsam looks
# for it in ../share/medsam/ (cli/default_model.c), so DATADIR must stay $(PREFIX)/share/medsam.
DATADIR      ?= $(PREFIX)/share/medsam
DEFAULT_MODEL := $(wildcard models/medsam-small.safetensors)

PIC_OBJ := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
PY_SRC  := $(sort $(wildcard python/medsam/*.py))

.PHONY: shared install install-python uninstall test-deb
shared: $(BUILD)/libmedsam.so

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(BUILD)/$(SHLIB): $(PIC_OBJ) mk/medsam.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=mk/medsam.map -Wl,-z,defs \
	    $(LDFLAGS) $(PIC_OBJ) -o $@ $(LDLIBS)

$(BUILD)/libmedsam.so: $(BUILD)/$(SHLIB)
	ln -sf $(SHLIB) $(BUILD)/$(SONAME)
	ln -sf $(SHLIB) $@

# The Python and install tests (tests/cli_python.sh, tests/cli_install.sh) need the
# shared library; not in sanitizer builds, whose library /usr/bin/python3 cannot load.
ifeq ($(findstring -fsanitize,$(OPT)),)
test: $(BUILD)/libmedsam.so
endif

# The .pc file names the install directories, so it is written at install time.
install: all shared
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 755 $(BUILD)/medsam $(DESTDIR)$(BINDIR)/medsam
	$(INSTALL) -m 644 $(BUILD)/$(SHLIB) $(DESTDIR)$(LIBDIR)/$(SHLIB)
	ln -sf $(SHLIB) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmedsam.so
	$(INSTALL) -m 644 $(BUILD)/libmedsam.a $(DESTDIR)$(LIBDIR)/libmedsam.a
	$(INSTALL) -m 644 include/medsam.h $(DESTDIR)$(INCLUDEDIR)/medsam.h
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
	    mk/medsam.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/medsam.pc && chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/medsam.pc
	$(INSTALL) -m 644 doc/medsam.1 $(DESTDIR)$(MANDIR)/man1/medsam.1
ifneq ($(DEFAULT_MODEL),)
	$(INSTALL) -d $(DESTDIR)$(DATADIR)
	$(INSTALL) -m 644 models/medsam-small.safetensors models/medsam-small.sha256 $(DESTDIR)$(DATADIR)/
endif

install-python:
	$(INSTALL) -d $(DESTDIR)$(PYTHONDIR)/medsam
	$(INSTALL) -m 644 $(PY_SRC) $(DESTDIR)$(PYTHONDIR)/medsam/

# The Debian packages (debian/), built from a copy of the tree and checked (needs debhelper).
test-deb: all
	sh tests/deb_build.sh

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/medsam $(DESTDIR)$(LIBDIR)/$(SHLIB) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libmedsam.so $(DESTDIR)$(LIBDIR)/libmedsam.a $(DESTDIR)$(INCLUDEDIR)/medsam.h \
	    $(DESTDIR)$(PKGCONFIGDIR)/medsam.pc $(DESTDIR)$(MANDIR)/man1/medsam.1
	rm -f $(DESTDIR)$(DATADIR)/medsam-small.safetensors $(DESTDIR)$(DATADIR)/medsam-small.sha256
	-rmdir $(DESTDIR)$(DATADIR) 2>/dev/null
	rm -rf $(DESTDIR)$(PYTHONDIR)/medsam

-include $(PIC_OBJ:.o=.d)
