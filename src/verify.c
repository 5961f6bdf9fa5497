/*-------------------------------------------------------------------------
 *
 * verify.c
 *		Verifying a backup: reading it back against its manifest and, on
 *		request, restoring it into a scratch database and checking the
 *		number of tables against the count its manifest recorded; then
 *		recording the outcome (verified_at, verify_result) in the manifest.
 *		What the SQL function protech_backup_verify() runs, and the
 *		verification of each new backup that
 *		protech_backup.verify_after_backup asks for.  Built on
 *		repository.c (reading back), restore.c and manifest.c.
 *
 * A damaged backup is a finding, not an error: the SQL function reports it
 * in its row and never raises for it.  After a backup, a failed
 * verification fails the run, but the backup stays on disk with
 * verify_result "failed: ..." in its manifest, for a DBA to inspect.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "mb/pg_wchar.h"
#include "utils/timestamp.h"

#include "leave_out.h"
#include "manifest.h"
#include "repository.h"
#include "restore.h"
#include "settings.h"
#include "verify.h"

/*
 * Record the outcome of a verification, in info, in the backup's manifest,
 * when this server may write to directory (see
 * protech_backup_begin_manifest_update); a WARNING says why it was not.
 */
static void
record_outcome(const char *directory, const ProtechBackupInfo *info)
{
	volatile bool recorded = false;
	char	   *holder;

	if (!protech_backup_begin_manifest_update(directory, &holder))
	{
		ereport(WARNING,
				(errmsg("the verification of backup \"%s\" was not recorded",
						info->file_name),
				 errdetail("The lock file \"%s\" of the backup directory is held by %s.",
						   PROTECH_BACKUP_LOCK_FILE, holder),
				 errhint("Verify it again once that server has finished writing.")));
		return;
	}
	PG_TRY();
	{
		recorded = protech_backup_record_verification(directory, info);
	}
	PG_FINALLY();
	{
		protech_backup_end_manifest_update();
	}
	PG_END_TRY();
	if (!recorded)
		ereport(WARNING,
				(errmsg("the verification of backup \"%s\" was not recorded",
						info->file_name),
				 errdetail("Its manifest was removed or changed while it was verified.")));
}

/*
 * What a restore of the backup info describes into target leaves out (see
 * leave_out.c), its notes separated by "; ", or NULL when nothing.
 */
static char *
left_out_text(const ProtechBackupInfo *info, const char *target)
{
	StringInfoData text;
	ListCell   *lc;

	initStringInfo(&text);
	foreach(lc, protech_backup_left_out_notes(info, target))
		appendStringInfo(&text, "%s%s", text.len ? "; " : "",
						 (char *) lfirst(lc));
	return text.len ? text.data : NULL;
}

/*
 * Verify the backup info describes, in directory: read it back (fully
 * decompressing it) against the size and SHA-256 of its manifest and, when
 * restore is set and that matched, restore it into a scratch database
 * (dropped again whatever happens), count its tables and rows, and compare
 * the number of tables with the manifest's (v->left_out says what the
 * restore left out: leave_out.c).  Record the outcome in the
 * manifest (except on a standby, which writes nothing), and in info.
 * Raises an error only when the verification itself cannot run (or is
 * interrupted, or the restore may not run with the rights in force: see
 * protech_backup_check_restore_rights); nothing is recorded then.
 */
void
protech_backup_verify_backup(const char *directory, ProtechBackupInfo *info,
							 bool restore, ProtechBackupVerification *v)
{
	char	   *problem;
	char	   *result;

	char	   *scratch = protech_backup_scratch_database_name();

	if (restore)
		protech_backup_check_restore_rights(info);
	memset(v, 0, sizeof(*v));
	v->restore = restore;
	v->started_at = GetCurrentTimestamp();
	v->checksum_ok = protech_backup_check_stored(directory, info, &problem);
	if (!v->checksum_ok)
		v->detail = restore ? psprintf("%s; not restored", problem) : problem;
	else if (restore)
	{
		v->counted = protech_backup_restore_into(directory, info, scratch,
												 false, 1, NULL, &v->tables, &v->rows,
												 &problem);
		v->left_out = left_out_text(info, scratch);
		if (!v->counted)
			v->detail = problem;
		else if (v->tables != info->tables)
			v->detail = psprintf("restored %d tables, the manifest records %d (counted when the backup started)",
								 v->tables, info->tables);
		else
			v->restored = true;
	}
	v->finished_at = GetCurrentTimestamp();

	if (v->detail != NULL)
		result = psprintf(PROTECH_BACKUP_VERIFY_FAILED ": %s", v->detail);
	else if (restore)
		result = psprintf("ok: restored %d tables, " INT64_FORMAT " rows%s%s",
						  v->tables, v->rows, v->left_out ? "; " : "",
						  v->left_out ? v->left_out : "");
	else
		result = pstrdup("ok: checksum");
	info->verified_at = v->finished_at;
	strlcpy(info->verify_result, result,
			pg_mbcliplen(result, strlen(result),
						 sizeof(info->verify_result) - 1) + 1);
	/* a standby writes nothing to the directory: its finding is not recorded */
	if (!RecoveryInProgress())
		record_outcome(directory, info);
}

/*
 * Verify a backup just taken, as protech_backup.verify_after_backup says.
 * Raises an error when the verification fails, so that the run fails; the
 * backup stays, its manifest saying what failed.  A restore that may not
 * run with the rights in force fails the run with that error, the backup
 * staying unverified.
 */
void
protech_backup_verify_new_backup(const char *directory, ProtechBackupInfo *info)
{
	ProtechBackupVerification v;

	if (protech_backup_verify_after_backup == PROTECH_BACKUP_VERIFY_OFF)
		return;
	protech_backup_verify_backup(directory, info,
				  protech_backup_verify_after_backup == PROTECH_BACKUP_VERIFY_RESTORE,
				  &v);
	if (v.detail != NULL)
		ereport(ERROR,
				(errcode(v.checksum_ok ? ERRCODE_EXTERNAL_ROUTINE_EXCEPTION :
						 ERRCODE_DATA_CORRUPTED),
				 errmsg("verification of backup \"%s\" failed", info->file_name),
				 errdetail("%s", v.detail),
				 errhint("The backup is kept; protech_backup_list() shows it with verify_result \"failed: ...\".")));
}
