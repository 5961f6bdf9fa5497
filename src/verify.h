/*-------------------------------------------------------------------------
 *
 * verify.h
 *		Verifying a backup (verify.c).  Built on repository.h, restore.h
 *		and manifest.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_VERIFY_H
#define PROTECH_BACKUP_VERIFY_H

#include "protech_backup.h"

/*
 * The outcome of one verification.
 */
typedef struct ProtechBackupVerification
{
	bool		checksum_ok;
	bool		restore;		/* a restore was asked for */
	bool		restored;		/* it succeeded, with the recorded tables */
	bool		counted;		/* tables and rows are known */
	int32		tables;
	int64		rows;
	char	   *detail;			/* what is wrong, NULL when nothing is */
	char	   *left_out;		/* what the restore left out, or NULL */
	TimestampTz started_at;
	TimestampTz finished_at;
} ProtechBackupVerification;

extern void protech_backup_verify_backup(const char *directory,
										 ProtechBackupInfo *info, bool restore,
										 ProtechBackupVerification *v);
extern void protech_backup_verify_new_backup(const char *directory,
											 ProtechBackupInfo *info);

#endif							/* PROTECH_BACKUP_VERIFY_H */
