# protech_backup: PGXS build, pg_regress and TAP tests.
#
#   make && make install          (as root)
#   make installcheck             (as a user that may run initdb, e.g. postgres)
#   make coverage                 (as root: line and branch coverage of src/)
#   make mutate                   (as root: the mutation score of the suite)

MODULE_big = protech_backup
OBJS = \
	src/archive_toc.o \
	src/backup.o \
	src/child.o \
	src/codec.o \
	src/database_properties.o \
	src/databases.o \
	src/download.o \
	src/durable.o \
	src/encrypt.o \
	src/extension.o \
	src/globals.o \
	src/history.o \
	src/leave_out.o \
	src/manifest.o \
	src/manual.o \
	src/pg_dump.o \
	src/pg_dump_options.o \
	src/post_backup_command.o \
	src/programs.o \
	src/protech_backup.o \
	src/recipients.o \
	src/repository.o \
	src/restore.o \
	src/retention.o \
	src/run.o \
	src/schedule.o \
	src/selection.o \
	src/scheduler.o \
	src/settings.o \
	src/slot.o \
	src/sql_functions.o \
	src/storage.o \
	src/stream.o \
	src/verify.o \
	src/worker.o

EXTENSION = protech_backup
DATA = sql/protech_backup--1.0.sql sql/protech_backup--1.0--1.1.sql \
	sql/protech_backup--1.1--1.2.sql
# a psql-only client that downloads a backup over SQL (protech_backup_read)
SCRIPTS = bin/protech_backup_download
# the reference manual (doc/*.md), installed as PGXN extensions install theirs
DOCS = $(wildcard doc/*.md)
PGFILEDESC = "protech_backup - scheduled, verified pg_dump backups run by the server"

# zstd and gzip compression of the dump stream (libzstd-dev, zlib1g-dev)
SHLIB_LINK = -lzstd -lz

PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

# pg_regress runs in a temporary instance that preloads the extension
REGRESS = backup formats retention schedule encryption
REGRESS_OPTS = --temp-instance=./tmp_check_regress --temp-config=$(srcdir)/test/regress.conf

TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

# what a coverage build (test/suite --coverage) leaves
EXTRA_CLEAN = src/*.gcno src/*.gcda *.c.gcov

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The whole suite with the extension built with gcc --coverage, in a copy
# of the tree against a private copy of PostgreSQL (test/suite), then the
# line and branch coverage of each file of src/ and in total.
coverage:
	bash test/suite --coverage

# Each mutant of test/mutants (a deliberate bug) applied to a copy of the
# tree and the tests that cover it run: prints killed/total and the
# mutants no test caught.
mutate:
	bash test/mutate

.PHONY: mutate

# doc/*.md go to a folder of their own under the docdir's extension/, so that
# names like configuration.md meet no other extension's files there
docmoduledir = extension/protech_backup
