/*-------------------------------------------------------------------------
 *
 * extension.h
 *		Where the extension is installed in the connected database, and SPI
 *		under a pinned search_path (extension.c).  Depends on no other
 *		module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_EXTENSION_H
#define PROTECH_BACKUP_EXTENSION_H

extern int	protech_backup_spi_connect(void);
extern void protech_backup_spi_finish(int nestlevel);
extern char *protech_backup_extension_schema(void);
extern bool protech_backup_extension_installed(void);

#endif							/* PROTECH_BACKUP_EXTENSION_H */
