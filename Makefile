# uso_tasks: background tasks inside PostgreSQL.
#
#   make            build              make install   install (as root)
#   make demo       USO demo server    make test      everything CI checks
#   make bench      benchmarks against pg_cron
#   make simulate   the scheduler's state through simulated days (HOURS=24 SEED=1)
#
# `make demo` and `make test` first install what a fresh Debian 12 machine
# lacks, so PGXS is only included once pg_config exists.

EXTENSION    = uso_tasks
EXTVERSION   = 0.1
MODULE_big   = uso_tasks
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built   = sql/$(EXTENSION)--$(EXTVERSION).sql
# The install script is assembled from sql/install/ in file-name order, so
# each part (catalog, API, views, cron layer, USO pack) stays one file.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
REGRESS      = $(basename $(notdir $(sort $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --load-extension=$(EXTENSION)

PG_CPPFLAGS  = -Isrc -Wall -Wextra -Werror -Wno-unused-parameter \
               -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK   = -lcurl
EXTRA_CLEAN  = $(DATA_built) test/sim/uso_sim

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

# The simulation is built from the state module's own sources, outside the
# server: the same files the extension links (see test/sim/sim.c).
SIM_SRCS  = $(sort $(wildcard test/sim/*.c)) $(wildcard src/sched_state*.c) src/sched_map.c \
            src/schedule.c src/schedule_next.c
SIM_BIN   = test/sim/uso_sim
HOURS    ?= 24
SEED     ?= 1
TASKS    ?= 3000

$(SIM_BIN): $(SIM_SRCS) $(wildcard test/sim/*.h) $(wildcard src/*.h)
	$(CC) -O2 -g $(filter-out -Wno-sign-compare,$(PG_CPPFLAGS)) -Wno-sign-compare -Itest/sim \
		-I$(shell $(PG_CONFIG) --includedir-server) $(SIM_SRCS) \
		-L$(shell $(PG_CONFIG) --pkglibdir) -lpgcommon -lpgport -lm -o $@

.PHONY: test demo bench print-regress simulate
simulate: $(SIM_BIN)
	./$(SIM_BIN) $(HOURS) $(SEED) $(TASKS)
test:
	bash test/run
demo:
	bash test/demo
bench:
	bash test/bench/run
print-regress:
	@echo $(REGRESS)
