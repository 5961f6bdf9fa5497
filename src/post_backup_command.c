/*-------------------------------------------------------------------------
 *
 * post_backup_command.c
 *		protech_backup.post_backup_command: a command run after each
 *		successful backup, like archive_command, to copy it off-site (for
 *		example with rclone).  Built on child.c and settings.c.
 *
 * The command is run by /bin/sh -c through the same child runner as
 * pg_dump (child.c): fork/exec, waited for inside the latch loop, killed on
 * cancel, shutdown and protech_backup.timeout.  Its exit status decides
 * whether the copy succeeded; its output is kept for the run history.  It
 * never touches the local backup: a failed copy is reported, not undone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "child.h"
#include "post_backup_command.h"
#include "settings.h"

/* how much of the command's output goes into the run history */
#define HOOK_OUTPUT_LINES 20

/*
 * The command with its placeholders replaced: %p the dump's path, %f its
 * file name, %d the backup directory, %m the manifest's path, %% a percent
 * sign.  Any other % sequence is kept as it is.
 */
static char *
expand_command(const char *command, const char *directory,
			   const ProtechBackupInfo *info)
{
	StringInfoData result;

	initStringInfo(&result);
	for (const char *c = command; *c; c++)
	{
		if (*c != '%' || c[1] == '\0')
		{
			appendStringInfoChar(&result, *c);
			continue;
		}
		switch (*++c)
		{
			case 'p':
				appendStringInfo(&result, "%s/%s", directory, info->file_name);
				break;
			case 'f':
				appendStringInfoString(&result, info->file_name);
				break;
			case 'd':
				appendStringInfoString(&result, directory);
				break;
			case 'm':
				appendStringInfo(&result, "%s/%s%s", directory, info->file_name,
								 PROTECH_BACKUP_MANIFEST_SUFFIX);
				break;
			case '%':
				appendStringInfoChar(&result, '%');
				break;
			default:
				appendStringInfoChar(&result, '%');
				appendStringInfoChar(&result, *c);
				break;
		}
	}
	return result.data;
}

/*
 * Run protech_backup.post_backup_command for the backup info in directory.
 * Returns whether it exited with status 0; *report describes the outcome
 * with the last lines the command printed.  Raises an error only for what
 * stops any child (cancel, shutdown, timeout, fork failure).
 */
bool
protech_backup_run_post_backup_command(const char *directory,
									   const ProtechBackupInfo *info,
									   char **report)
{
	const char *no_extra[] = {NULL};
	const char *argv[] = {"/bin/sh", "-c",
	expand_command(protech_backup_post_backup_command, directory, info), NULL};
	StringInfoData output;
	int			status;
	char	   *printed;

	initStringInfo(&output);
	status = protech_backup_run_child("post_backup_command", argv,
									  protech_backup_child_environment(no_extra),
									  NULL, NULL, NULL, NULL, &output,
									  protech_backup_timeout);
	printed = protech_backup_last_lines(&output, HOOK_OUTPUT_LINES);
	if (status == 0)
		*report = psprintf("post_backup_command succeeded%s%s",
						   printed[0] ? ":\n" : "", printed);
	else
		*report = psprintf("post_backup_command failed: %s%s%s",
						   wait_result_to_str(status),
						   printed[0] ? "\n" : "", printed);
	return status == 0;
}
