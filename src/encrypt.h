/*-------------------------------------------------------------------------
 *
 * encrypt.h
 *		Encryption of backups with age (encrypt.c): the stream stage that
 *		encrypts through an age child, the reader that decrypts a stored
 *		file through one, the reader of any stored file of a backup
 *		(decrypting it when its name ends in ".age"), and the identity a
 *		restore needs.  Built on stream.h, child.h, settings.h and
 *		storage.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_ENCRYPT_H
#define PROTECH_BACKUP_ENCRYPT_H

#include "protech_backup.h"
#include "stream.h"

extern ProtechBackupStream *protech_backup_stream_encrypt(const ProtechBackupRecipients *recipients,
														  ProtechBackupStream *next);
extern ProtechBackupStreamReader *protech_backup_decrypting_reader(const char *path,
																   ProtechBackupMethod method);
extern ProtechBackupStreamReader *protech_backup_stored_reader(const char *path,
															   ProtechBackupMethod method);
extern void protech_backup_require_identity(const char *file_name);

#endif							/* PROTECH_BACKUP_ENCRYPT_H */
