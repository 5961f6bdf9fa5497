/*-------------------------------------------------------------------------
 *
 * manifest.h
 *		The manifest of a backup, its JSON description beside the dump
 *		(manifest.c).  Built on durable.h, slot.h and storage.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_MANIFEST_H
#define PROTECH_BACKUP_MANIFEST_H

#include "protech_backup.h"
#include "storage.h"

extern void protech_backup_write_manifest(const char *directory,
										  const ProtechBackupInfo *info);
extern bool protech_backup_parse_manifest(const char *directory,
										  const char *manifest_name,
										  ProtechBackupInfo *info,
										  ProtechBackupStorage *storage);
extern bool protech_backup_record_verification(const char *directory,
											   const ProtechBackupInfo *verified);

#endif							/* PROTECH_BACKUP_MANIFEST_H */
