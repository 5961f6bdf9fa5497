/*-------------------------------------------------------------------------
 *
 * extension.h
 *		Where the extension is installed in the connected database
 *		(extension.c).  Depends on no other module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_EXTENSION_H
#define PROTECH_BACKUP_EXTENSION_H

extern char *protech_backup_extension_schema(void);
extern bool protech_backup_extension_installed(void);

#endif							/* PROTECH_BACKUP_EXTENSION_H */
