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

#include "common/sha2.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "schedule.h"

/* Every file this extension creates starts with this prefix. */
#define PROTECH_BACKUP_PREFIX "protech_backup_"
/* A file being written; never listed, removed when no backup runs. */
#define PROTECH_BACKUP_PARTIAL_SUFFIX ".partial"
/* The manifest of a backup is its dump's name plus this suffix. */
#define PROTECH_BACKUP_MANIFEST_SUFFIX ".json"

/* settings (protech_backup.c) */
extern char *protech_backup_database;
extern char *protech_backup_directory;
extern char *protech_backup_pg_dump_path;
extern char *protech_backup_role;
extern char *protech_backup_schedule;
extern char *protech_backup_timezone;
extern bool protech_backup_catch_up;
extern int	protech_backup_history_days;
extern char *protech_backup_post_backup_command;
extern int	protech_backup_timeout;
extern double protech_backup_min_size_ratio;

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
} ProtechBackupInfo;

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
extern void protech_backup_claim_slot(int64 run_id);
extern bool protech_backup_try_claim_slot(int64 run_id);
extern void protech_backup_check_slot_free(void);
extern int64 protech_backup_slot_run_id(void);
extern void protech_backup_slot_set_file(const char *file_name);
extern void protech_backup_report_progress(uint64 bytes_written);
extern void protech_backup_release_slot(void);
extern void protech_backup_set_scheduler_state(pid_t pid, TimestampTz next_run_at);
extern void protech_backup_get_state(ProtechBackupState *state);
extern char *protech_backup_resolved_directory(void);

/* child.c: run a program by fork/exec inside the latch loop */
typedef void (*ProtechBackupSink) (const char *data, size_t len, void *arg);
extern int	protech_backup_run_child(const char *what,
									 const char *const *argv,
									 const char *const *envp,
									 ProtechBackupSink stdout_sink,
									 void *sink_arg,
									 StringInfo stderr_tail,
									 int timeout_s);
extern const char **protech_backup_child_environment(const char *const *extra);

/* durable.c: fsync and durable rename that never PANIC */
extern bool protech_backup_fsync(const char *path, bool isdir, int elevel);
extern void protech_backup_durable_rename(const char *oldpath,
										  const char *newpath,
										  const char *directory);

/* manifest.c: manifests and the directory listing */
extern void protech_backup_write_manifest(const char *directory,
										  const ProtechBackupInfo *info);
extern bool protech_backup_read_manifest(const char *directory,
										 const char *manifest_name,
										 ProtechBackupInfo *info);
extern bool protech_backup_is_backup_name(const char *name);
extern List *protech_backup_list_backups(const char *directory);
extern void protech_backup_return_infos(FunctionCallInfo fcinfo, List *infos);

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

/* history.c: the run history table */
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
extern char *protech_backup_size_anomaly(void);

/* worker.c: the launcher, the scheduler and manual backup workers */
extern void protech_backup_register_launcher(void);
extern void protech_backup_check_for_interrupts(void);
extern ProtechBackupInfo *protech_backup_run_manual(void);

/* retention.c: which backups to keep, and deleting the rest */
extern void protech_backup_define_retention_settings(void);
extern char *protech_backup_run_retention(const char *directory);

#endif							/* PROTECH_BACKUP_H */
