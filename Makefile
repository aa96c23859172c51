# uso_tasks: background tasks inside PostgreSQL.
#
#   make            build              make install   install (as root)
#   make demo       USO demo server    make test      everything CI checks
#   make bench      benchmarks against pg_cron
#   make deb        Debian package postgresql-15-uso-tasks (build/deb/)
#   make uninstall  remove what make install installed (as root)
#   make simulate   the scheduler's state through simulated days (HOURS=24 SEED=1)
#   make simulate-grid  interval tasks' slots against uso_next_runs over 15 months (SEED=1)
#
# `make demo` and `make test` first install what a fresh Debian 12 machine
# lacks, so PGXS is only included once pg_config exists.

# Two extensions from one repository: uso_tasks (the engine) and uso_office
# (the USO task pack, schema uso; requires uso_tasks).
EXTENSION    = uso_tasks uso_office
EXTVERSION   = 0.2
MODULE_big   = uso_tasks
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
# 0.1 is released: its install script was generated once from commit f5434e7
# and is never edited or regenerated.  uso_office--0.1.sql is the adopting
# version: it takes over the pack that uso_tasks 0.1 installed.
DATA         = sql/uso_tasks--0.1.sql sql/uso_office--0.1.sql
# The current version's scripts are generated from three kinds of parts:
#   sql/schema/<ext>.sql     tables, sequences, types, indexes, table privileges:
#                            install only, each table in its current shape;
#   sql/install/*.sql, sql/office/*.sql
#                            the code (functions, views, triggers, policies,
#                            comments, grants on them): run in full by the
#                            install script and by every update script;
#   sql/builtin/<ext>.sql    the built-in tasks a fresh install registers.
# The install script is schema + code (file-name order) + builtin.  An update
# script <ext>--<from>--$(EXTVERSION).sql (sql/updates/assemble) is the
# hand-written schema deltas of each step from <from> on
# (sql/updates/<ext>--X--Y.sql), sql/updates/drop_code.sql (drops the old
# code objects: functions, views, triggers, policies, event triggers), the
# code parts, sql/updates/restore_grants.sql (privileges a DBA changed on
# them), then each step's optional data part (sql/updates/<ext>--X--Y.post.sql,
# e.g. the built-in tasks X lacks).  test/t/090_upgrade.pl checks that an
# upgraded catalog equals a fresh install.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
OFFICE_PARTS = $(sort $(wildcard sql/office/*.sql))
# The versions an update starts from: the first version of each step.
TASKS_FROM   = $(sort $(foreach f,$(filter-out %.post.sql,$(wildcard sql/updates/uso_tasks--*--*.sql)),$(word 2,$(subst --, ,$(notdir $(f))))))
OFFICE_FROM  = $(sort $(foreach f,$(filter-out %.post.sql,$(wildcard sql/updates/uso_office--*--*.sql)),$(word 2,$(subst --, ,$(notdir $(f))))))
TASKS_UPDATES = $(foreach v,$(TASKS_FROM),sql/uso_tasks--$(v)--$(EXTVERSION).sql)
OFFICE_UPDATES = $(foreach v,$(OFFICE_FROM),sql/uso_office--$(v)--$(EXTVERSION).sql)
DATA_built   = sql/uso_tasks--$(EXTVERSION).sql sql/uso_office--$(EXTVERSION).sql \
               $(TASKS_UPDATES) $(OFFICE_UPDATES)
REGRESS      = $(basename $(notdir $(sort $(filter-out sql/uso_tasks--% sql/uso_office--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --load-extension=uso_tasks --load-extension=uso_office

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

sql/uso_tasks--$(EXTVERSION).sql: sql/schema/uso_tasks.sql $(INSTALL_PARTS) sql/builtin/uso_tasks.sql
	cat $^ > $@
sql/uso_office--$(EXTVERSION).sql: sql/schema/uso_office.sql $(OFFICE_PARTS) sql/builtin/uso_office.sql
	cat $^ > $@
$(TASKS_UPDATES): sql/uso_tasks--%--$(EXTVERSION).sql: sql/updates/assemble sql/updates/drop_code.sql sql/updates/restore_grants.sql \
		$(wildcard sql/updates/uso_tasks--*.sql) $(INSTALL_PARTS)
	sh sql/updates/assemble uso_tasks $* $(EXTVERSION) $(INSTALL_PARTS) > $@
$(OFFICE_UPDATES): sql/uso_office--%--$(EXTVERSION).sql: sql/updates/assemble sql/updates/drop_code.sql sql/updates/restore_grants.sql \
		$(wildcard sql/updates/uso_office--*.sql) $(OFFICE_PARTS)
	sh sql/updates/assemble uso_office $* $(EXTVERSION) $(OFFICE_PARTS) > $@

# The simulation is built from the state module's own sources, outside the
# server: the same files the extension links (see test/sim/sim.c).
SIM_SRCS  = $(sort $(wildcard test/sim/*.c)) $(wildcard src/sched_state*.c) src/sched_map.c \
            src/schedule.c src/schedule_cron.c src/schedule_next.c src/schedule_after.c
SIM_BIN   = test/sim/uso_sim
HOURS    ?= 24
SEED     ?= 1
TASKS    ?= 3000

$(SIM_BIN): $(SIM_SRCS) $(wildcard test/sim/*.h) $(wildcard src/*.h)
	$(CC) -O2 -g $(filter-out -Wno-sign-compare,$(PG_CPPFLAGS)) -Wno-sign-compare -Itest/sim \
		-I$(shell $(PG_CONFIG) --includedir-server) $(SIM_SRCS) \
		-L$(shell $(PG_CONFIG) --pkglibdir) -lpgcommon -lpgport -lm -o $@

.PHONY: test demo bench deb print-regress simulate simulate-grid
simulate: $(SIM_BIN)
	./$(SIM_BIN) $(HOURS) $(SEED) $(TASKS)
# The grid invariant (test/sim/sim_grid.c): 15 months of interval tasks.
simulate-grid: $(SIM_BIN)
	./$(SIM_BIN) grid $(SEED)
test:
	bash test/run
demo:
	bash test/demo
bench:
	bash test/bench/run
# The Debian package postgresql-15-uso-tasks (debian/, pg_buildext), under build/deb/.
deb:
	bash test/deb_build.sh
print-regress:
	@echo $(REGRESS)
