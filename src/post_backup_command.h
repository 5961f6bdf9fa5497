/*-------------------------------------------------------------------------
 *
 * post_backup_command.h
 *		protech_backup.post_backup_command, run after each successful backup
 *		(post_backup_command.c).  Built on child.h and settings.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_POST_BACKUP_COMMAND_H
#define PROTECH_BACKUP_POST_BACKUP_COMMAND_H

#include "protech_backup.h"

extern bool protech_backup_run_post_backup_command(const char *directory,
												   const ProtechBackupInfo *info,
												   char **report);

#endif							/* PROTECH_BACKUP_POST_BACKUP_COMMAND_H */
