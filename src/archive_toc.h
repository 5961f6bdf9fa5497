/*-------------------------------------------------------------------------
 *
 * archive_toc.h
 *		The table of contents of a pg_dump custom or directory archive,
 *		read from its start (archive_toc.c).  Built on child.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_ARCHIVE_TOC_H
#define PROTECH_BACKUP_ARCHIVE_TOC_H

#include "child.h"

/* one entry of an archive's table of contents, as pg_dump wrote it */
typedef struct ProtechBackupTocEntry
{
	int			dump_id;
	char	   *desc;			/* "TABLE", "INDEX", "FK CONSTRAINT"... */
	char	   *namespace;		/* its schema, "" when none */
	char	   *tag;			/* its name, unquoted */
	int			ndeps;
	int		   *deps;			/* the dump ids it depends on */
} ProtechBackupTocEntry;

/* an archive's table of contents, in the archive's order */
typedef struct ProtechBackupToc
{
	int			count;
	ProtechBackupTocEntry *entries;
	int			max_dump_id;
} ProtechBackupToc;

extern bool protech_backup_read_toc(ProtechBackupSource source, void *arg,
									ProtechBackupToc *toc, char **problem);

#endif							/* PROTECH_BACKUP_ARCHIVE_TOC_H */
