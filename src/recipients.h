/*-------------------------------------------------------------------------
 *
 * recipients.h
 *		The parser of protech_backup.encryption_recipients: age public keys,
 *		or a recipients file (recipients.c).  Built on durable.h (opening
 *		the file).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_RECIPIENTS_H
#define PROTECH_BACKUP_RECIPIENTS_H

#include "protech_backup.h"

extern bool protech_backup_parse_recipients(const char *value,
											ProtechBackupRecipients *result,
											char **detail);
extern bool protech_backup_is_age_recipient(const char *key);

#endif							/* PROTECH_BACKUP_RECIPIENTS_H */
