# uso_tasks: background tasks inside PostgreSQL.
#
#   make            build              make install   install (as root)
#   make demo       USO demo server    make test      everything CI checks
#   make bench      benchmarks against pg_cron
#
# `make demo` and `make test` first install what a fresh Debian 12 machine
# lacks, so PGXS is only included once pg_config exists.

EXTENSION    = uso_tasks
EXTVERSION   = 0.2
MODULE_big   = uso_tasks
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
# 0.1 is released: its install script was generated once from commit f5434e7
# and is never edited or regenerated.  Every schema change since then ships in
# an update script (sql/uso_tasks--<from>--<to>.sql), and test/t/090_upgrade.pl
# checks that an upgraded catalog equals a fresh install.
DATA         = sql/$(EXTENSION)--0.1.sql $(wildcard sql/$(EXTENSION)--*--*.sql)
# The current version's install script is assembled from sql/install/ in
# file-name order, so each part (catalog, API, views, cron layer) stays one file.
DATA_built   = sql/$(EXTENSION)--$(EXTVERSION).sql
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
REGRESS      = $(basename $(notdir $(sort $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --load-extension=$(EXTENSION)

PG_CPPFLAGS  = -Isrc -Wall -Wextra -Werror -Wno-unused-parameter \
               -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK   = -lcurl
EXTRA_CLEAN  = $(DATA_built)

PG_CONFIG ?= pg_config
HAVE_PGXS := $(shell command -v $(PG_CONFIG) >/dev/null 2>&1 && \
	test -f "$$($(PG_CONFIG) --pgxs 2>/dev/null)" && echo yes)

ifeq ($(HAVE_PGXS),yes)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
else
all install installcheck:
	@echo "pg_config/PGXS not found: run 'make test' or 'make demo' (they install" >&2
	@echo "the Debian packages), or: apt-get install postgresql-server-dev-15 libcurl4-openssl-dev" >&2
	@exit 1
endif

# Every object depends on every header: a struct change rebuilds all.
$(OBJS): $(wildcard src/*.h)

$(DATA_built): $(INSTALL_PARTS)
	cat $^ > $@

.PHONY: test demo bench print-regress
test:
	bash test/run
demo:
	bash test/demo
bench:
	bash test/bench/run
print-regress:
	@echo $(REGRESS)
