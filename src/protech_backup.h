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
/*
 * Room for the tag of a database in the names of its backups, with its NUL
 * (storage.c): short enough that every name stays within
 * PROTECH_BACKUP_MAX_NAME_LENGTH.
 */
#define PROTECH_BACKUP_TAG_SIZE 49
/* The roles and tablespaces dumped with a backup: its dump's name plus this. */
#define PROTECH_BACKUP_GLOBALS_SUFFIX ".globals.sql"
/* The database-level properties saved with a backup: its dump's name plus this. */
#define PROTECH_BACKUP_PROPERTIES_SUFFIX ".database.sql"
/*
 * An encrypted file (age, see encrypt.c) ends in this, after the name it
 * would have in clear: "<dump>.sql.zst.age", "<dump>.globals.sql.age".
 */
#define PROTECH_BACKUP_AGE_SUFFIX ".age"
/* The manifest of a backup is its dump's name plus this suffix. */
#define PROTECH_BACKUP_MANIFEST_SUFFIX ".json"
/* Room for the outcome of a verification in a manifest, with its NUL. */
#define PROTECH_BACKUP_VERIFY_RESULT_SIZE 2048
/*
 * The longest name, with room to spare, of what a backup creates below the
 * backup directory ("<name>.database.sql.partial", or a file pg_dump writes
 * in the folder "<name>.partial"), and so the longest backup directory
 * path: with its "/", every path stays shorter than MAXPGPATH.
 */
#define PROTECH_BACKUP_MAX_NAME_LENGTH 127
#define PROTECH_BACKUP_MAX_DIRECTORY_LENGTH \
	(MAXPGPATH - 2 - PROTECH_BACKUP_MAX_NAME_LENGTH)
/* The search_path every query of the extension runs under. */
#define PROTECH_BACKUP_SEARCH_PATH "pg_catalog, pg_temp"
/* How verify_result begins when the verification failed. */
#define PROTECH_BACKUP_VERIFY_FAILED "failed"

/*
 * Where bytes go: a function handed each piece of a stream in turn (the
 * output of a program, of a decompressor, of a stream stage).
 */
typedef void (*ProtechBackupSink) (const char *data, size_t len, void *arg);

/* the most age recipients a backup is encrypted to */
#define PROTECH_BACKUP_MAX_RECIPIENTS 32
/* an age X25519 recipient: "age1" and 58 bech32 characters, with its NUL */
#define PROTECH_BACKUP_RECIPIENT_SIZE 63

/*
 * The public keys a backup is encrypted to: the parsed form of
 * protech_backup.encryption_recipients, and what a manifest records.
 */
typedef struct ProtechBackupRecipients
{
	int			count;			/* 0: not encrypted */
	char		keys[PROTECH_BACKUP_MAX_RECIPIENTS][PROTECH_BACKUP_RECIPIENT_SIZE];
} ProtechBackupRecipients;

/* room for a locale name in a manifest */
#define PROTECH_BACKUP_LOCALE_SIZE 256
/* room for a list of quoted names in a manifest, with its NUL */
#define PROTECH_BACKUP_NAME_LIST_SIZE 1024
/* the most extensions a backed-up database may have */
#define PROTECH_BACKUP_MAX_EXTENSIONS 128

/*
 * An extension of a backed-up database, which a restore creates before
 * the dump's own statements run.
 */
typedef struct ProtechBackupExtension
{
	char		name[NAMEDATALEN];
	char		schema[NAMEDATALEN];
} ProtechBackupExtension;

/*
 * One complete backup, as recorded in its manifest.
 */
typedef struct ProtechBackupInfo
{
	char		file_name[MAXPGPATH];	/* base name inside the directory */
	char		database[NAMEDATALEN];
	char		database_owner[NAMEDATALEN];	/* "" in older manifests */
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
	/* its database-level properties (a psql script): "" before 1.2 */
	char		properties_file[MAXPGPATH];
	int64		properties_size_bytes;
	char		properties_sha256[PG_SHA256_DIGEST_STRING_LENGTH];
	int32		tables;			/* user tables when the backup started */
	/* the database's encoding and locale, which a restore creates it with */
	char		encoding[NAMEDATALEN];
	char		locale_provider[8]; /* "libc" or "icu" */
	char		lc_collate[PROTECH_BACKUP_LOCALE_SIZE];
	char		lc_ctype[PROTECH_BACKUP_LOCALE_SIZE];
	char		icu_locale[PROTECH_BACKUP_LOCALE_SIZE]; /* "" for libc */
	/*
	 * Whether every function of the database belonged to a superuser when
	 * the backup started, so that restoring it as a superuser runs no code
	 * of another role's; false when the manifest does not say (an older
	 * one).
	 */
	bool		superuser_functions_only;
	/* its extensions, in the order they were created */
	int			extension_count;
	ProtechBackupExtension extensions[PROTECH_BACKUP_MAX_EXTENSIONS];
	/*
	 * Those of them that can live in one database only (pg_cron), and the
	 * schemas they created, each a list of quoted identifiers separated by
	 * ", "; "" when there are none (and in manifests older than 1.2).  A
	 * restore into another database leaves them out (see leave_out.c).
	 */
	char		single_database_extensions[PROTECH_BACKUP_NAME_LIST_SIZE];
	char		single_database_schemas[PROTECH_BACKUP_NAME_LIST_SIZE];
	/* encrypted with age to these recipients (count 0: in clear) */
	ProtechBackupRecipients recipients;
	/* the last verification: 0 and "" until the first */
	TimestampTz verified_at;
	char		verify_result[PROTECH_BACKUP_VERIFY_RESULT_SIZE];
} ProtechBackupInfo;

/*
 * The user tables of a database, as the FROM clause of a query over
 * pg_class c and pg_namespace n: ordinary and partitioned tables outside the
 * system schemas, not part of an extension.  The count a backup records and
 * the count of a restore both use it, so that they count the same things.
 * Like every SQL text of the extension, it names pg_catalog's operators
 * with OPERATOR(pg_catalog.x): the database it runs in may hold operators
 * of its users' that an unqualified name would pick.
 */
#define PROTECH_BACKUP_USER_TABLES \
	"FROM pg_catalog.pg_class c " \
	"JOIN pg_catalog.pg_namespace n " \
	"ON n.oid OPERATOR(pg_catalog.=) c.relnamespace " \
	"WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog.\"char\"[]) " \
	"AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' " \
	"AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' " \
	"AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d " \
	"WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass " \
	"AND d.objid OPERATOR(pg_catalog.=) c.oid " \
	"AND d.deptype OPERATOR(pg_catalog.=) 'e')"

#endif							/* PROTECH_BACKUP_H */
