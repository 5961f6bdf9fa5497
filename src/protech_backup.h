/*-------------------------------------------------------------------------
 *
 * protech_backup.h
 *		The vocabulary every module of protech_backup shares: the names of
 *		the files it creates, the description of one backup as its manifest
 *		records it, the callback bytes flow through, and the query that
 *		counts a database's user tables.
 *		No functions: each module declares its own in its own header (see
 *		doc/architecture.md for the map and the layers).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_H
#define PROTECH_BACKUP_H

#include "access/xlogdefs.h"
#include "common/sha2.h"
#include "datatype/timestamp.h"

/* Every file this extension creates starts with this prefix. */
#define PROTECH_BACKUP_PREFIX "protech_backup_"
/* The application_name of the connections of pg_dump and the other clients */
#define PROTECH_BACKUP_APPLICATION_NAME "protech_backup"
/* The lock file of the backup directory: one writer at a time (repository.c). */
#define PROTECH_BACKUP_LOCK_FILE "protech_backup.lock"
/* A file being written; never listed, removed when no backup runs. */
#define PROTECH_BACKUP_PARTIAL_SUFFIX ".partial"
/* The roles and tablespaces dumped with a backup: its dump's name plus this. */
#define PROTECH_BACKUP_GLOBALS_SUFFIX ".globals.sql"
/* The manifest of a backup is its dump's name plus this suffix. */
#define PROTECH_BACKUP_MANIFEST_SUFFIX ".json"
/* Room for the outcome of a verification in a manifest, with its NUL. */
#define PROTECH_BACKUP_VERIFY_RESULT_SIZE 2048
/* How verify_result begins when the verification failed. */
#define PROTECH_BACKUP_VERIFY_FAILED "failed"

/*
 * Where bytes go: a function handed each piece of a stream in turn (the
 * output of a program, of a decompressor, of a stream stage).
 */
typedef void (*ProtechBackupSink) (const char *data, size_t len, void *arg);

/* room for a locale name in a manifest */
#define PROTECH_BACKUP_LOCALE_SIZE 256

/*
 * One complete backup, as recorded in its manifest.
 */
typedef struct ProtechBackupInfo
{
	char		file_name[MAXPGPATH];	/* base name inside the directory */
	char		database[NAMEDATALEN];
	char		format[16];
	char		compression[16];
	int64		size_bytes;
	char		sha256[PG_SHA256_DIGEST_STRING_LENGTH];
	TimestampTz started_at;
	TimestampTz finished_at;
	char		trigger[16];
	char		server_version[128];
	char		pg_dump_version[128];
	/* the cluster that took it: 0 for both in manifests older than 1.1 */
	uint64		system_identifier;	/* pg_control_system() */
	TimeLineID	timeline;		/* the server's timeline when it started */
	char		globals_file[MAXPGPATH];	/* pg_dumpall --globals-only */
	int64		globals_size_bytes;
	char		globals_sha256[PG_SHA256_DIGEST_STRING_LENGTH];
	int32		tables;			/* user tables when the backup started */
	/* the database's encoding and locale, which a restore creates it with */
	char		encoding[NAMEDATALEN];
	char		locale_provider[8]; /* "libc" or "icu" */
	char		lc_collate[PROTECH_BACKUP_LOCALE_SIZE];
	char		lc_ctype[PROTECH_BACKUP_LOCALE_SIZE];
	char		icu_locale[PROTECH_BACKUP_LOCALE_SIZE]; /* "" for libc */
	/* the last verification: 0 and "" until the first */
	TimestampTz verified_at;
	char		verify_result[PROTECH_BACKUP_VERIFY_RESULT_SIZE];
} ProtechBackupInfo;

/*
 * The user tables of a database, as the FROM clause of a query over
 * pg_class c and pg_namespace n: ordinary and partitioned tables outside the
 * system schemas, not part of an extension.  The count a backup records and
 * the count of a restore both use it, so that they count the same things.
 */
#define PROTECH_BACKUP_USER_TABLES \
	"FROM pg_catalog.pg_class c " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' " \
	"AND n.nspname !~ '^pg_' " \
	"AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d " \
	"WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass " \
	"AND d.objid = c.oid AND d.deptype = 'e')"

#endif							/* PROTECH_BACKUP_H */
