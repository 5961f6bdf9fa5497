/*-------------------------------------------------------------------------
 *
 * selection.h
 *		A selective restore: the entries of an archive's table of
 *		contents that restoring some of its tables and schemas takes, and
 *		the notes that say what came and what was left out (selection.c).
 *		Built on archive_toc.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_SELECTION_H
#define PROTECH_BACKUP_SELECTION_H

#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"

#include "archive_toc.h"

/* what a selective restore takes of an archive */
typedef struct ProtechBackupSelection
{
	Bitmapset  *wanted;			/* the dump ids of the entries restored */
	List	   *extensions;		/* the names of the extensions among them */
} ProtechBackupSelection;

extern ProtechBackupSelection *protech_backup_select_entries(const ProtechBackupToc *toc,
															 const char *file_name,
															 List *tables,
															 List *schemas,
															 List **notes);
extern bool protech_backup_selection_has_extension(const ProtechBackupSelection *selection,
												   const char *name);

#endif							/* PROTECH_BACKUP_SELECTION_H */
