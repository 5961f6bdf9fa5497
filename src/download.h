/*-------------------------------------------------------------------------
 *
 * download.h
 *		The bytes of a backup as protech_backup_read() serves them
 *		(download.c).  Built on repository.h and stream.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_DOWNLOAD_H
#define PROTECH_BACKUP_DOWNLOAD_H

#include "protech_backup.h"

typedef struct ProtechBackupServed ProtechBackupServed;

extern void protech_backup_check_read_privilege(void);
extern ProtechBackupServed *protech_backup_serve(const char *directory,
												 const ProtechBackupInfo *info);
extern bytea *protech_backup_read_served(const ProtechBackupServed *served,
										 int64 offset, int32 length);
extern int64 protech_backup_served_size(const ProtechBackupServed *served);

#endif							/* PROTECH_BACKUP_DOWNLOAD_H */
