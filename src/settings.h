/*-------------------------------------------------------------------------
 *
 * settings.h
 *		Every setting (GUC) of protech_backup, defined in settings.c.  The
 *		settings with a syntax of their own (the schedule, the compression,
 *		the pg_dump options) are parsed once, by their check hooks, and
 *		their parsed form is used from the hook's extra (as guc.c does for
 *		timezone): nothing parses them again.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_SETTINGS_H
#define PROTECH_BACKUP_SETTINGS_H

#include "protech_backup.h"
#include "schedule.h"
#include "storage.h"

/* the values of protech_backup.verify_after_backup */
typedef enum ProtechBackupVerifyAfter
{
	PROTECH_BACKUP_VERIFY_OFF,
	PROTECH_BACKUP_VERIFY_CHECKSUM,
	PROTECH_BACKUP_VERIFY_RESTORE
} ProtechBackupVerifyAfter;

/*
 * protech_backup.databases, parsed: every database (all), or count names;
 * neither when the setting is empty (protech_backup.database alone).
 */
typedef struct ProtechBackupDatabaseList
{
	bool		all;
	int			count;
	char		names[FLEXIBLE_ARRAY_MEMBER][NAMEDATALEN];
} ProtechBackupDatabaseList;

extern char *protech_backup_database;
extern char *protech_backup_databases;
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
extern int	protech_backup_retention_count;
extern int	protech_backup_retention_days;
extern int	protech_backup_keep_daily;
extern int	protech_backup_keep_weekly;
extern int	protech_backup_keep_monthly;
extern int	protech_backup_retention_max_size;
extern char *protech_backup_encryption_recipients;
extern char *protech_backup_encryption_identity_file;

extern void protech_backup_define_settings(void);

/* the parsed forms, as the check hooks left them */
extern const ProtechBackupSchedule *protech_backup_schedule_in_force(void);
extern pg_tz *protech_backup_timezone_in_force(void);
extern const char *const *protech_backup_pg_dump_options_in_force(void);
extern void protech_backup_storage_in_force(ProtechBackupStorage *storage);
extern const ProtechBackupRecipients *protech_backup_recipients_in_force(void);
extern const ProtechBackupDatabaseList *protech_backup_databases_in_force(void);

/* the backup directory */
extern char *protech_backup_resolved_directory(void);
extern bool protech_backup_in_data_directory(const char *path);
extern void protech_backup_check_directory_location(const char *directory);

#endif							/* PROTECH_BACKUP_SETTINGS_H */
