/*-------------------------------------------------------------------------
 *
 * pg_dump.h
 *		pg_dump as a backup runs it (pg_dump.c).  Built on settings.h,
 *		storage.h and child.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_PG_DUMP_H
#define PROTECH_BACKUP_PG_DUMP_H

#include "lib/stringinfo.h"

#include "storage.h"

extern char *protech_backup_check_pg_dump(const char *pg_dump,
										  const char *const *envp);
extern const char **protech_backup_pg_dump_argv(const char *pg_dump,
												const ProtechBackupStorage *storage,
												const char *folder);
extern void protech_backup_report_dump_failure(const char *program,
											   const char *database,
											   const char *role, int status,
											   StringInfo output) pg_attribute_noreturn();
extern void protech_backup_terminate_pg_dump_backends(void);

#endif							/* PROTECH_BACKUP_PG_DUMP_H */
