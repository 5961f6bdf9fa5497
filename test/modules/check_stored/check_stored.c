/*-------------------------------------------------------------------------
 *
 * check_stored.c
 *		Test-only SQL access to protech_backup_check_stored(), which the
 *		extension itself does not expose (its verify function will): the
 *		TAP tests load this module by path, never install it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "protech_backup.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(check_stored);

/*
 * check_stored(file_name text) RETURNS text
 *
 * NULL when the backup file_name in the backup directory is listed and
 * reads back as its manifest records; otherwise what is wrong.
 */
Datum
check_stored(PG_FUNCTION_ARGS)
{
	char	   *file_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *directory = protech_backup_resolved_directory();
	ProtechBackupInfo info;
	char	   *problem;

	if (!protech_backup_read_manifest(directory,
									  psprintf("%s%s", file_name,
											   PROTECH_BACKUP_MANIFEST_SUFFIX),
									  &info))
		PG_RETURN_TEXT_P(cstring_to_text("not listed"));
	if (protech_backup_check_stored(directory, &info, &problem))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}
