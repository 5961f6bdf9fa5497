/*-------------------------------------------------------------------------
 *
 * retention.c
 *		Retention: which complete backups to keep, and deleting the rest.
 *		The planner of the rules protech_backup.retention_* and keep_*
 *		(settings.c), the automatic run after every successful backup, and
 *		what the SQL functions protech_backup_cleanup() and
 *		protech_backup_retention_plan() run.  Built on repository.c (the
 *		listing), durable.c (the removal) and slot.c.
 *
 * One planner decides for every backup: protech_backup_plan_retention()
 * works on nothing but start times, sizes and whether verification failed,
 * so the SQL function protech_backup_retention_plan() exposes exactly the
 * code that
 * decides what protech_backup_cleanup() and the automatic run after each
 * backup delete, and the tests can drive it with any list of backups.
 *
 * The rules, applied to the complete backups of this cluster (its system
 * identifier, see run_retention) of each database apart (the database its
 * manifest records, see plan_per_database) sorted newest first:
 *	- retention_count N keeps the newest N;
 *	- retention_days N keeps every backup younger than N days (N times 24
 *	  hours before now);
 *	- keep_daily, keep_weekly, keep_monthly N keep the newest backup of each
 *	  of the N most recent days, ISO weeks or months (in
 *	  protech_backup.timezone) that have a backup, as in borg or restic,
 *	  so that a pause in backups never makes these rules keep fewer;
 *	- when none of these is set, every backup is kept;
 *	- a backup whose last verification failed takes no place under these
 *	  rules: they are applied to all backups, and again to the others
 *	  alone, and what either keeps is kept, so that N failed backups never
 *	  push a good one out, and a failed one stays as long as it would if it
 *	  were good (for a DBA to inspect);
 *	- then retention_max_size deletes the oldest kept backups until the
 *	  kept total is at most the limit, those that failed verification
 *	  first;
 *	- the newest backup is always kept, whatever the rules say.
 * A backup kept by several rules is reported with the first of them in the
 * order above.
 *
 * Only complete backups, as protech_backup_list_backups() finds them (our
 * name pattern and a valid manifest; after a backup, the run's listing and
 * the new backup, each read again from its manifest), are ever considered: foreign files, a
 * dump without its manifest and a backup still being written are never
 * touched.  A backup is deleted manifest first, and the directory is
 * fsynced before its dump goes, so a crash in between leaves at worst a
 * dump without a manifest, never a manifest without its dump.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "common/int.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "durable.h"
#include "repository.h"
#include "retention.h"
#include "settings.h"
#include "slot.h"

/* the calendar periods of keep_daily, keep_weekly and keep_monthly */
typedef enum RetentionTier
{
	TIER_DAILY,
	TIER_WEEKLY,
	TIER_MONTHLY
} RetentionTier;

/*
 * qsort comparator: newest first, and backups that started at the same
 * moment in the order the caller gave them.
 */
static int
compare_newest_first(const void *a, const void *b)
{
	const ProtechBackupRetentionItem *x = a;
	const ProtechBackupRetentionItem *y = b;

	if (x->started_at != y->started_at)
		return x->started_at > y->started_at ? -1 : 1;
	return x->position - y->position;
}

/*
 * qsort comparator over pointers into an array sorted newest first: most
 * recent period first, and within a period the newest backup first.
 */
static int
compare_period_newest_first(const void *a, const void *b)
{
	const ProtechBackupRetentionItem *x = *(ProtechBackupRetentionItem *const *) a;
	const ProtechBackupRetentionItem *y = *(ProtechBackupRetentionItem *const *) b;

	if (x->period != y->period)
		return x->period > y->period ? -1 : 1;
	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * The calendar period of a tier that ts falls in, seen in zone tz, as a
 * number that orders periods in calendar order.  When label is given, also
 * write the reason that names the period: "daily 2026-11-25",
 * "weekly 2026-W48" or "monthly 2026-11".
 */
static int64
period_of(TimestampTz ts, RetentionTier tier, pg_tz *tz,
		  char *label, size_t label_size)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	int			year;
	int			week;

	if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));

	switch (tier)
	{
		case TIER_DAILY:
			if (label)
				snprintf(label, label_size, "daily %04d-%02d-%02d",
						 tm.tm_year, tm.tm_mon, tm.tm_mday);
			return (int64) tm.tm_year * 10000 + tm.tm_mon * 100 + tm.tm_mday;
		case TIER_WEEKLY:
			year = date2isoyear(tm.tm_year, tm.tm_mon, tm.tm_mday);
			week = date2isoweek(tm.tm_year, tm.tm_mon, tm.tm_mday);
			if (label)
				snprintf(label, label_size, "weekly %04d-W%02d", year, week);
			return (int64) year * 100 + week;
		case TIER_MONTHLY:
			if (label)
				snprintf(label, label_size, "monthly %04d-%02d",
						 tm.tm_year, tm.tm_mon);
			return (int64) tm.tm_year * 100 + tm.tm_mon;
	}
	pg_unreachable();
}

/* appended to the reasons of the pass that leaves failed backups out */
#define NOT_COUNTING_FAILED ", not counting backups that failed verification"

/*
 * Keep a backup for the given reason (followed by suffix), unless an
 * earlier rule already does.
 */
static void
keep_item(ProtechBackupRetentionItem *item, const char *reason, const char *suffix)
{
	if (item->keep)
		return;
	item->keep = true;
	item->reason = psprintf("%s%s", reason, suffix);
}

/*
 * Keep the newest backup of each of the most recent "periods" periods of a
 * tier that have a backup.  items must be sorted newest first.
 */
static void
keep_newest_per_period(ProtechBackupRetentionItem *items, int n, RetentionTier tier,
					   int periods, pg_tz *tz, const char *suffix)
{
	ProtechBackupRetentionItem **order = palloc(n * sizeof(ProtechBackupRetentionItem *));
	int			found = 0;

	for (int i = 0; i < n; i++)
	{
		items[i].period = period_of(items[i].started_at, tier, tz, NULL, 0);
		order[i] = &items[i];
	}
	qsort(order, n, sizeof(ProtechBackupRetentionItem *), compare_period_newest_first);

	for (int i = 0; i < n && found < periods; i++)
	{
		char		label[64];

		if (i > 0 && order[i]->period == order[i - 1]->period)
			continue;
		found++;
		period_of(order[i]->started_at, tier, tz, label, sizeof(label));
		keep_item(order[i], label, suffix);
	}
	pfree(order);
}

/*
 * Apply the keep rules (retention_count, retention_days, keep_daily,
 * keep_weekly, keep_monthly; at least one is set) to items, sorted newest
 * first, each reason followed by suffix.
 */
static void
apply_keep_rules(ProtechBackupRetentionItem *items, int n, const ProtechBackupRetentionRules *rules,
				 const char *suffix)
{
	if (rules->count > 0)
	{
		char	   *reason = psprintf("newest %d", rules->count);

		for (int i = 0; i < n && i < rules->count; i++)
			keep_item(&items[i], reason, suffix);
	}
	if (rules->days > 0)
	{
		char	   *reason = psprintf(rules->days == 1 ?
									  "younger than %d day" :
									  "younger than %d days",
									  rules->days);
		int64		span;
		TimestampTz cutoff;

		/* a window reaching before the start of time keeps everything */
		if (pg_mul_s64_overflow(rules->days, USECS_PER_DAY, &span) ||
			pg_sub_s64_overflow(rules->now, span, &cutoff))
			cutoff = PG_INT64_MIN;
		for (int i = 0; i < n; i++)
			if (items[i].started_at > cutoff)
				keep_item(&items[i], reason, suffix);
	}
	if (rules->daily > 0)
		keep_newest_per_period(items, n, TIER_DAILY, rules->daily,
							   rules->tz, suffix);
	if (rules->weekly > 0)
		keep_newest_per_period(items, n, TIER_WEEKLY, rules->weekly,
							   rules->tz, suffix);
	if (rules->monthly > 0)
		keep_newest_per_period(items, n, TIER_MONTHLY, rules->monthly,
							   rules->tz, suffix);
}

/*
 * Apply the keep rules to the items whose verification did not fail, as
 * if the others were not there, and keep in items what that keeps too.
 * items must be sorted newest first.
 */
static void
keep_not_counting_failed(ProtechBackupRetentionItem *items, int n,
						 const ProtechBackupRetentionRules *rules)
{
	ProtechBackupRetentionItem *verified = palloc(n * sizeof(ProtechBackupRetentionItem));
	int			count = 0;

	for (int i = 0; i < n; i++)
	{
		if (items[i].verify_failed)
			continue;
		verified[count] = items[i];
		verified[count].keep = false;
		verified[count].reason = NULL;
		count++;
	}
	apply_keep_rules(verified, count, rules, NOT_COUNTING_FAILED);
	for (int i = 0, j = 0; i < n; i++)
	{
		if (items[i].verify_failed)
			continue;
		if (verified[j].keep && !items[i].keep)
		{
			items[i].keep = true;
			items[i].reason = verified[j].reason;
		}
		j++;
	}
	pfree(verified);
}

/*
 * The planner: sort items newest first and decide for each whether it is
 * kept, and why.  Pure: looks at nothing but its arguments.
 */
void
protech_backup_plan_retention(ProtechBackupRetentionItem *items, int n,
							  const ProtechBackupRetentionRules *rules)
{
	if (n == 0)
		return;

	qsort(items, n, sizeof(ProtechBackupRetentionItem), compare_newest_first);
	for (int i = 0; i < n; i++)
	{
		items[i].keep = false;
		items[i].reason = NULL;
	}

	if (rules->count == 0 && rules->days == 0 && rules->daily == 0 &&
		rules->weekly == 0 && rules->monthly == 0)
	{
		for (int i = 0; i < n; i++)
			keep_item(&items[i], "no keep rule is set", "");
	}
	else
	{
		apply_keep_rules(items, n, rules, "");
		keep_not_counting_failed(items, n, rules);
		keep_item(&items[0], "newest backup is always kept", "");
	}

	if (rules->max_size > 0)
	{
		int64		total = 0;

		for (int i = 0; i < n; i++)
			if (items[i].keep &&
				pg_add_s64_overflow(total, items[i].size_bytes, &total))
				total = PG_INT64_MAX;
		/* oldest first: those that failed verification, then the others */
		for (int pass = 0; pass < 2; pass++)
		{
			for (int i = n - 1; i > 0 && total > rules->max_size; i--)
			{
				if (!items[i].keep || (pass == 0 && !items[i].verify_failed))
					continue;
				items[i].keep = false;
				items[i].reason = pstrdup("over retention_max_size");
				total -= items[i].size_bytes;
			}
		}
		/* only the newest is left, and it alone is over the limit */
		if (total > rules->max_size)
			items[0].reason = pstrdup("newest backup is always kept");
	}

	for (int i = 0; i < n; i++)
		if (!items[i].keep && items[i].reason == NULL)
			items[i].reason = pstrdup("not kept by any keep rule");
}

/*
 * Plan retention for the n items of backups (each naming its backup by its
 * position) database by database: every rule applies to the backups of
 * each database apart (keep the newest N of each), so that the backups of
 * one database never count against, nor push out, another's.  The items
 * come back grouped by database.
 */
static void
plan_per_database(ProtechBackupRetentionItem *items, int n, List *backups,
				  const ProtechBackupRetentionRules *rules)
{
	ProtechBackupRetentionItem *grouped = palloc(n * sizeof(ProtechBackupRetentionItem));
	bool	   *placed = palloc0(n * sizeof(bool));
	int			done = 0;

	for (int i = 0; i < n; i++)
	{
		const char *database;
		int			start = done;

		if (placed[i])
			continue;
		database = ((ProtechBackupInfo *) list_nth(backups, items[i].position))->database;
		for (int j = i; j < n; j++)
			if (!placed[j] &&
				strcmp(((ProtechBackupInfo *) list_nth(backups, items[j].position))->database,
					   database) == 0)
			{
				grouped[done++] = items[j];
				placed[j] = true;
			}
		protech_backup_plan_retention(grouped + start, done - start, rules);
	}
	memcpy(items, grouped, n * sizeof(ProtechBackupRetentionItem));
}

/*
 * Delete the backup info describes: its manifest first, then (once that
 * removal is durable) its dump, its globals file and its database-level
 * properties file (as the manifest names them: encrypted ones end in
 * ".age"; no properties file before 1.2).  Logs the deletion with its
 * reason.  A failure is reported as a WARNING and returns false, so the
 * caller goes on with the other backups.
 */
static bool
delete_backup(const char *directory, const ProtechBackupInfo *info,
			  const char *reason)
{
	const char *file_name = info->file_name;
	char		manifest[MAXPGPATH];
	char		dump[MAXPGPATH];
	bool		removed;
	bool		dump_removed;
	bool		globals_removed;
	bool		properties_removed;

	protech_backup_build_path(manifest, directory, file_name,
							  PROTECH_BACKUP_MANIFEST_SUFFIX);
	protech_backup_build_path(dump, directory, file_name, "");

	/* a verification of this backup must not write its manifest again */
	protech_backup_lock_manifests();
	removed = unlink(manifest) == 0 || errno == ENOENT;
	protech_backup_unlock_manifests();
	if (!removed)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not delete backup \"%s\": %m", file_name),
				 errdetail("Removing its manifest \"%s\" failed, so the backup is kept; retention tries again after the next backup.",
						   manifest)));
		return false;
	}
	if (!protech_backup_fsync(directory, true, WARNING))
	{
		ereport(WARNING,
				(errmsg("could not delete backup \"%s\"", file_name),
				 errdetail("Its manifest is removed, but the removal could not be made durable, so its dump \"%s\" is left in place.",
						   dump),
				 errhint("Remove the dump by hand.")));
		return false;
	}
	/*
	 * A file, or the folder of a directory-format backup; and its globals
	 * and database-level properties (absent before 1.2, which is no
	 * failure), tried even when the dump could not be removed.
	 */
	dump_removed = protech_backup_remove_dump(dump);
	globals_removed = protech_backup_remove_dump(psprintf("%s/%s", directory,
														  info->globals_file));
	properties_removed = info->properties_file[0] == '\0' ||
		protech_backup_remove_dump(psprintf("%s/%s", directory,
											info->properties_file));
	if (!dump_removed || !globals_removed || !properties_removed)
	{
		ereport(WARNING,
				(errmsg("could not delete backup \"%s\"", file_name),
				 errdetail("Its manifest is removed, so the dump \"%s\" is no longer a backup, but the dump, its globals file or its database-level properties file could not be removed.",
						   dump),
				 errhint("Remove the dump by hand.")));
		return false;
	}
	ereport(LOG,
			(errmsg("protech_backup: deleted backup \"%s\": %s",
					file_name, reason)));
	return true;
}

/*
 * Plan retention for the complete backups of this cluster among backups
 * (of directory, newest first) under the current settings and, unless
 * dry_run, delete what the plan deletes (oldest first).  A backup of this cluster is one whose manifest
 * records this server's system identifier, or none (taken before version
 * 1.1, when only this extension on this cluster wrote there); the backups
 * of other clusters sharing the directory are never counted, nor deleted.
 * Returns a ProtechBackupRetentionOutcome per backup, newest first.  The
 * caller holds the backup slot and the directory's lock file unless
 * dry_run.
 */
static List *
run_retention(const char *directory, List *backups, bool dry_run)
{
	int			n = list_length(backups);
	uint64		system_identifier = GetSystemIdentifier();
	ProtechBackupRetentionItem *items = palloc0(n * sizeof(ProtechBackupRetentionItem));
	ProtechBackupRetentionOutcome *outcomes = palloc0(n * sizeof(ProtechBackupRetentionOutcome));
	ProtechBackupRetentionRules rules;
	List	   *result = NIL;
	int			own = 0;
	bool		deleted = false;

	rules.count = protech_backup_retention_count;
	rules.days = protech_backup_retention_days;
	rules.daily = protech_backup_keep_daily;
	rules.weekly = protech_backup_keep_weekly;
	rules.monthly = protech_backup_keep_monthly;
	rules.max_size = (int64) protech_backup_retention_max_size * 1024 * 1024;
	rules.tz = protech_backup_timezone_in_force();
	rules.now = GetCurrentTimestamp();

	for (int i = 0; i < n; i++)
	{
		ProtechBackupInfo *info = list_nth(backups, i);

		outcomes[i].file_name = info->file_name;
		outcomes[i].database = info->database;
		if (info->system_identifier != 0 &&
			info->system_identifier != system_identifier)
		{
			outcomes[i].action = "keep";
			outcomes[i].reason = psprintf("a backup of another cluster (system identifier " UINT64_FORMAT ")",
										  info->system_identifier);
			continue;
		}
		items[own].started_at = info->started_at;
		items[own].size_bytes = info->size_bytes;
		/* as protech_backup_list() shows it: verify_result "failed: ..." */
		items[own].verify_failed =
			strncmp(info->verify_result, PROTECH_BACKUP_VERIFY_FAILED,
					strlen(PROTECH_BACKUP_VERIFY_FAILED)) == 0;
		items[own].position = i;
		own++;
	}
	plan_per_database(items, own, backups, &rules);

	for (int i = own - 1; i >= 0; i--)
	{
		ProtechBackupInfo *info = list_nth(backups, items[i].position);
		ProtechBackupRetentionOutcome *outcome = &outcomes[items[i].position];

		outcome->reason = items[i].reason;
		if (items[i].keep)
			outcome->action = "keep";
		else if (dry_run)
			outcome->action = "delete";
		else if (delete_backup(directory, info, items[i].reason))
		{
			outcome->action = "delete";
			deleted = true;
		}
		else
			outcome->action = "delete failed";
	}

	/* make the removals of the dumps durable too */
	if (deleted)
		(void) protech_backup_fsync(directory, true, WARNING);

	for (int i = 0; i < n; i++)
		result = lappend(result, &outcomes[i]);
	return result;
}

/*
 * Apply retention right after a backup was completed in directory, to
 * backups: the directory's backups as the run listed them at its start,
 * and the new one, each read again from its manifest (a verification may
 * have recorded its outcome since), without listing the directory again.
 * Called by protech_backup_run() inside a transaction, while it holds the
 * backup slot and the directory's lock file.  Returns what it deleted (or failed to delete), one line per
 * backup, for the run history; NULL when it deleted nothing.  Never raises
 * an error: the backup is complete whatever happens here, so any error of
 * the run is caught (in a subtransaction, which releases what it held) and
 * reported as a WARNING, and in the returned report.
 */
char *
protech_backup_run_retention(const char *directory, List *backups)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	StringInfoData report;

	initStringInfo(&report);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		List	   *outcomes =
			run_retention(directory,
						  protech_backup_reread_backups(directory, backups),
						  false);
		ListCell   *lc;

		foreach(lc, outcomes)
		{
			ProtechBackupRetentionOutcome *outcome = lfirst(lc);

			if (strcmp(outcome->action, "keep") != 0)
				appendStringInfo(&report, "%sretention: %s \"%s\": %s",
								 report.len ? "\n" : "",
								 strcmp(outcome->action, "delete") == 0 ?
								 "deleted" : "could not delete",
								 outcome->file_name, outcome->reason);
		}
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("backup retention failed: %s", edata->message),
				 errdetail("The new backup is complete; retention runs again after the next backup.")));
		appendStringInfo(&report, "%sretention failed: %s",
						 report.len ? "\n" : "", edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return report.len ? report.data : NULL;
}

/*
 * Error cleanup of protech_backup_apply_retention(): give the directory's
 * lock file and the backup slot back.
 */
static void
release_directory(int code, Datum arg)
{
	protech_backup_release_directory();
}

/*
 * Apply retention now to the complete backups in directory under the
 * current settings, or with dry_run only say what it would do, for
 * protech_backup_cleanup().  Returns a ProtechBackupRetentionOutcome per
 * backup, newest first.  Deleting holds the backup slot and the
 * directory's lock file, so it never races a running backup of this
 * server or another; a dry run deletes nothing and needs neither.
 */
List *
protech_backup_apply_retention(const char *directory, bool dry_run)
{
	List	   *outcomes;

	if (dry_run)
		return run_retention(directory, protech_backup_list_backups(directory),
							 true);
	protech_backup_claim_directory(directory, 0);
	PG_ENSURE_ERROR_CLEANUP(release_directory, (Datum) 0);
	{
		outcomes = run_retention(directory,
								 protech_backup_list_backups(directory),
								 false);
	}
	PG_END_ENSURE_ERROR_CLEANUP(release_directory, (Datum) 0);
	protech_backup_release_directory();
	return outcomes;
}
