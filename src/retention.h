/*-------------------------------------------------------------------------
 *
 * retention.h
 *		Retention: the planner, and deleting what it does not keep
 *		(retention.c).  Built on repository.h, durable.h and slot.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_RETENTION_H
#define PROTECH_BACKUP_RETENTION_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "pgtime.h"

/*
 * The rules one retention run applies; 0 turns a rule off.
 */
typedef struct ProtechBackupRetentionRules
{
	int			count;
	int			days;
	int			daily;
	int			weekly;
	int			monthly;
	int64		max_size;		/* bytes */
	pg_tz	   *tz;				/* zone of days, weeks and months */
	TimestampTz now;
} ProtechBackupRetentionRules;

/*
 * One backup as the planner sees it, and its verdict.
 */
typedef struct ProtechBackupRetentionItem
{
	TimestampTz started_at;
	int64		size_bytes;
	bool		verify_failed;	/* its last verification failed */
	int			position;		/* index in the caller's list */
	int64		period;			/* scratch: the period of the current tier */
	bool		keep;
	char	   *reason;			/* the rule that decided, once decided */
} ProtechBackupRetentionItem;

/*
 * What a retention run did (or would do) with one backup.
 */
typedef struct ProtechBackupRetentionOutcome
{
	char	   *file_name;
	const char *database;		/* the database it is a backup of */
	const char *action;			/* "keep", "delete" or "delete failed" */
	char	   *reason;
} ProtechBackupRetentionOutcome;

extern void protech_backup_plan_retention(ProtechBackupRetentionItem *items, int n,
										  const ProtechBackupRetentionRules *rules);
extern List *protech_backup_apply_retention(const char *directory, bool dry_run);
extern char *protech_backup_run_retention(const char *directory);

#endif							/* PROTECH_BACKUP_RETENTION_H */
