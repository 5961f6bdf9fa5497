/*-------------------------------------------------------------------------
 *
 * stream.h
 *		The SHA-256 of a stream of bytes (stream.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_STREAM_H
#define PROTECH_BACKUP_STREAM_H

#include "common/cryptohash.h"

extern pg_cryptohash_ctx *protech_backup_sha256_begin(void);
extern void protech_backup_sha256_update(pg_cryptohash_ctx *ctx,
										 const char *data, size_t len);
extern void protech_backup_sha256_end(pg_cryptohash_ctx *ctx, char *hex);

#endif							/* PROTECH_BACKUP_STREAM_H */
