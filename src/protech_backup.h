/*-------------------------------------------------------------------------
 *
 * protech_backup.h
 *		Declarations shared by the files of the protech_backup extension:
 *		its settings, the description of one backup, the cluster-wide
 *		"backup in progress" slot, and the entry points each file offers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_H
#define PROTECH_BACKUP_H

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "schedule.h"
#include "utils/guc.h"

/* Every file this extension creates starts with this prefix. */
#define PROTECH_BACKUP_PREFIX "protech_backup_"
/* The application_name of the connections of pg_dump and the other clients */
#define PROTECH_BACKUP_APPLICATION_NAME "protech_backup"
/* A file being written; never listed, removed when no backup runs. */
#define PROTECH_BACKUP_PARTIAL_SUFFIX ".partial"
/* The roles and tablespaces dumped with a backup: its dump's name plus this. */
#define PROTECH_BACKUP_GLOBALS_SUFFIX ".globals.sql"
/* The manifest of a backup is its dump's name plus this suffix. */
#define PROTECH_BACKUP_MANIFEST_SUFFIX ".json"
/* Room for the outcome of a verification in a manifest, with its NUL. */
#define PROTECH_BACKUP_VERIFY_RESULT_SIZE 2048
/*
 * The longest name, with room to spare, of what a backup creates below the
 * backup directory ("<name>.globals.sql.partial", or a file pg_dump writes
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

/* settings (protech_backup.c) */
extern char *protech_backup_database;
extern char *protech_backup_directory;
extern char *protech_backup_pg_dump_path;
extern char *protech_backup_role;
extern char *protech_backup_restore_role;
extern char *protech_backup_schedule;
extern char *protech_backup_timezone;
extern bool protech_backup_catch_up;
extern int	protech_backup_history_days;
extern char *protech_backup_post_backup_command;
extern int	protech_backup_timeout;
extern double protech_backup_min_size_ratio;
extern int	protech_backup_min_free_space;
extern int	protech_backup_lock_wait_timeout;
extern char *protech_backup_passfile;
extern int	protech_backup_format;
extern char *protech_backup_compression;
extern int	protech_backup_jobs;
extern char *protech_backup_pg_dump_options;
extern int	protech_backup_verify_after_backup;

/* the values of protech_backup.format */
typedef enum ProtechBackupFormat
{
	PROTECH_BACKUP_FORMAT_PLAIN,
	PROTECH_BACKUP_FORMAT_CUSTOM,
	PROTECH_BACKUP_FORMAT_DIRECTORY
} ProtechBackupFormat;

/* the values of protech_backup.verify_after_backup */
typedef enum ProtechBackupVerifyAfter
{
	PROTECH_BACKUP_VERIFY_OFF,
	PROTECH_BACKUP_VERIFY_CHECKSUM,
	PROTECH_BACKUP_VERIFY_RESTORE
} ProtechBackupVerifyAfter;

/* compression methods, in the order format.c names them */
typedef enum ProtechBackupMethod
{
	PROTECH_BACKUP_METHOD_NONE,
	PROTECH_BACKUP_METHOD_GZIP,
	PROTECH_BACKUP_METHOD_ZSTD
} ProtechBackupMethod;

/* who compresses a backup */
typedef enum ProtechBackupCompressor
{
	PROTECH_BACKUP_COMPRESSOR_NONE, /* nobody: stored uncompressed */
	PROTECH_BACKUP_COMPRESSOR_STREAM,	/* this extension, the whole stream */
	PROTECH_BACKUP_COMPRESSOR_PG_DUMP	/* pg_dump, inside its archive */
} ProtechBackupCompressor;

/*
 * How a backup is stored: one of the valid combinations of format.c.
 */
typedef struct ProtechBackupStorage
{
	ProtechBackupFormat format;
	ProtechBackupMethod method;
	int			level;			/* 0 for PROTECH_BACKUP_METHOD_NONE */
	ProtechBackupCompressor compressor;
	const char *suffix;			/* of the file name, such as ".sql.zst" */
} ProtechBackupStorage;

/* room for a locale name in a manifest */
#define PROTECH_BACKUP_LOCALE_SIZE 256
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

/*
 * What all processes share: the backup running now (the cluster-wide slot:
 * at most one backup at a time) and the scheduler's state.
 */
typedef struct ProtechBackupState
{
	pid_t		running_pid;	/* 0 when no backup runs */
	TimestampTz running_since;
	char		running_file[MAXPGPATH];
	uint64		running_bytes;
	int64		running_run_id; /* its history row, 0 if none */
	pid_t		scheduler_pid;	/* 0 when no scheduler runs */
	TimestampTz next_run_at;	/* 0 when nothing is scheduled */
} ProtechBackupState;

/* protech_backup.c: module set-up and the shared state */
extern void protech_backup_require_preload(void);
extern void protech_backup_reject_argument(const char *name,
										   const char *problem,
										   const char *hint) pg_attribute_noreturn();
extern void protech_backup_claim_slot(int64 run_id);
extern bool protech_backup_try_claim_slot(int64 run_id);
extern void protech_backup_take_over_slot_from(pid_t holder);
extern int64 protech_backup_slot_run_id(void);
extern void protech_backup_slot_set_file(const char *file_name);
extern void protech_backup_report_progress(uint64 bytes_written);
extern void protech_backup_release_slot(void);
extern void protech_backup_lock_manifests(void);
extern void protech_backup_unlock_manifests(void);
extern void protech_backup_set_scheduler_state(pid_t pid, TimestampTz next_run_at);
extern void protech_backup_get_state(ProtechBackupState *state);
extern char *protech_backup_resolved_directory(void);
extern bool protech_backup_in_data_directory(const char *path);
extern void protech_backup_check_directory_location(const char *directory);

/* format.c: the storage settings and the valid combinations */
extern const struct config_enum_entry protech_backup_format_options[];
extern bool protech_backup_parse_compression(const char *value,
											 ProtechBackupMethod *method,
											 int *level, char **detail);
extern char *protech_backup_compression_name(ProtechBackupMethod method,
											 int level);
extern bool protech_backup_check_compression(char **newval, void **extra,
											 GucSource source);
extern bool protech_backup_parse_pg_dump_options(const char *value,
												 List **words, char **detail);
extern bool protech_backup_check_pg_dump_options(char **newval, void **extra,
												 GucSource source);
extern void protech_backup_storage_in_force(ProtechBackupStorage *storage);
extern bool protech_backup_storage_of(const char *format,
									  const char *compression,
									  ProtechBackupStorage *storage);
extern bool protech_backup_is_backup_suffix(const char *suffix);

/* codec.c: gzip and zstd streams through a fixed-size buffer */
typedef struct ProtechBackupCodec ProtechBackupCodec;

/* child.c: run a program by fork/exec inside the latch loop */
typedef void (*ProtechBackupSink) (const char *data, size_t len, void *arg);
/* appends the next piece of input to buf; false when there is no more */
typedef bool (*ProtechBackupSource) (StringInfo buf, void *arg);
extern int	protech_backup_run_child(const char *what,
									 const char *const *argv,
									 const char *const *envp,
									 ProtechBackupSource stdin_source,
									 void *source_arg,
									 ProtechBackupSink stdout_sink,
									 void *sink_arg,
									 StringInfo stderr_tail,
									 int timeout_s);
extern void protech_backup_collect_output(const char *data, size_t len,
										  void *arg);
extern const char **protech_backup_child_environment(const char *const *extra);

/* programs.c: where the client programs are, how they reach this server */
extern char *protech_backup_connection_role(void);
extern char *protech_backup_program_path(const char *program);
extern const char **protech_backup_connection_environment(const char *database,
														  const char *role);

/* durable.c: paths checked for truncation, fsync and durable rename that never PANIC */
extern void protech_backup_build_path(char *path, const char *directory,
									  const char *name, const char *suffix);
extern int	protech_backup_open_nofollow(const char *path, int flags,
										 mode_t mode, char **problem);
extern bool protech_backup_fsync(const char *path, bool isdir, int elevel);
extern void protech_backup_durable_rename(const char *oldpath,
										  const char *newpath,
										  const char *directory);
/* codec.c (continued); ProtechBackupSink is the output callback */
extern ProtechBackupCodec *protech_backup_codec_begin(ProtechBackupMethod method,
													  int level, bool compress,
													  ProtechBackupSink output,
													  void *output_arg);
extern bool protech_backup_codec_feed(ProtechBackupCodec *codec,
									  const char *data, size_t len);
extern void protech_backup_codec_input(ProtechBackupCodec *codec,
									   const char *data, size_t len);
extern int	protech_backup_codec_step(ProtechBackupCodec *codec);
extern bool protech_backup_codec_end(ProtechBackupCodec *codec);
extern const char *protech_backup_codec_error(ProtechBackupCodec *codec);

/* stored.c: a stored backup, file or folder: hash, check, remove */
extern pg_cryptohash_ctx *protech_backup_sha256_begin(void);
extern void protech_backup_sha256_update(pg_cryptohash_ctx *ctx,
										 const char *data, size_t len);
extern void protech_backup_sha256_end(pg_cryptohash_ctx *ctx, char *hex);
extern char **protech_backup_folder_files(const char *path, int *count,
										  char **problem);
extern void protech_backup_seal_folder(const char *path, int64 *size_bytes,
									   char *sha256);
extern int64 protech_backup_stored_size(const char *path,
										const ProtechBackupStorage *storage);
extern bool protech_backup_check_stored(const char *directory,
										const ProtechBackupInfo *info,
										char **problem);
extern bool protech_backup_remove_dump(const char *path);
extern void protech_backup_durable_rename_folder(const char *from,
												 const char *to);

/* manifest.c: manifests and the directory listing */
extern void protech_backup_write_manifest(const char *directory,
										  const ProtechBackupInfo *info);
extern bool protech_backup_read_manifest(const char *directory,
										 const char *manifest_name,
										 ProtechBackupInfo *info);
extern bool protech_backup_is_backup_name(const char *name);
extern ProtechBackupInfo *protech_backup_backup_argument(FunctionCallInfo fcinfo,
														 int argno,
														 const char *directory);
extern void protech_backup_report_not_a_backup(const char *file_name,
											   const char *directory,
											   const char *problem) pg_attribute_noreturn();
extern bool protech_backup_record_verification(const char *directory,
											   const ProtechBackupInfo *verified);
extern List *protech_backup_list_backups(const char *directory);
extern void protech_backup_return_infos(FunctionCallInfo fcinfo, List *infos);

/* restore.c: restoring a backup into a new database */
extern void protech_backup_install_restore_hook(void);
extern void protech_backup_check_restore_rights(const ProtechBackupInfo *info);
extern bool protech_backup_restore_into(const char *directory,
										const ProtechBackupInfo *info,
										const char *target, bool keep,
										int32 *tables, int64 *rows,
										char **problem);
extern char *protech_backup_scratch_database_name(void);
extern void protech_backup_drop_leftover_scratch_databases(void);

/* verify.c: verifying a backup */
extern const struct config_enum_entry protech_backup_verify_after_backup_options[];
extern void protech_backup_verify_new_backup(const char *directory,
											 ProtechBackupInfo *info);

/* hooks.c: the post-backup command */
extern bool protech_backup_run_post_backup_command(const char *directory,
												   const ProtechBackupInfo *info,
												   char **report);

/* backup.c: taking a backup */
extern char *protech_backup_last_lines(StringInfo output, int nlines);
extern void protech_backup_check_database(const char *database);
extern void protech_backup_remove_stale_partials(const char *directory);
extern ProtechBackupInfo *protech_backup_take(const char *trigger, int64 run_id,
											  char **retention_report);

/* history.c: the run history table, and SPI under a pinned search_path */
extern int	protech_backup_spi_connect(void);
extern void protech_backup_spi_finish(int nestlevel);
extern char *protech_backup_extension_schema(void);
extern bool protech_backup_extension_installed(void);
extern int64 protech_backup_history_start(const char *trigger,
										  const char *database,
										  TimestampTz started_at);
extern void protech_backup_history_finish(int64 run_id, const char *status,
										  const ProtechBackupInfo *info,
										  const char *message,
										  const char *copy_status);
extern int64 protech_backup_history_mark_interrupted(int64 keep_run_id);
extern int64 protech_backup_history_purge(int days);
extern bool protech_backup_history_last_scheduled_success(TimestampTz *started_at);

/* status.c: what protech_backup_status() reports */
extern int64 protech_backup_free_bytes(const char *path);
extern char *protech_backup_size_anomaly(void);

/* worker.c: the launcher, the scheduler and manual backup workers */
extern void protech_backup_register_launcher(void);
extern void protech_backup_check_for_interrupts(void);
extern ProtechBackupInfo *protech_backup_run_manual(void);

/* retention.c: which backups to keep, and deleting the rest */
extern void protech_backup_define_retention_settings(void);
extern char *protech_backup_run_retention(const char *directory);

#endif							/* PROTECH_BACKUP_H */
