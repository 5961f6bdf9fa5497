/*-------------------------------------------------------------------------
 *
 * codec.h
 *		gzip and zstd streams through a fixed-size buffer (codec.c).  Built
 *		on storage.h alone (the names of the methods).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_CODEC_H
#define PROTECH_BACKUP_CODEC_H

#include "protech_backup.h"
#include "storage.h"

typedef struct ProtechBackupCodec ProtechBackupCodec;

extern ProtechBackupCodec *protech_backup_codec_begin(ProtechBackupMethod method,
													  int level, bool compress,
													  ProtechBackupSink output,
													  void *output_arg);
extern bool protech_backup_codec_feed(ProtechBackupCodec *codec,
									  const char *data, size_t len);
extern void protech_backup_codec_input(ProtechBackupCodec *codec,
									   const char *data, size_t len);
extern int	protech_backup_codec_step(ProtechBackupCodec *codec);
extern bool protech_backup_codec_end(ProtechBackupCodec *codec);
extern const char *protech_backup_codec_error(ProtechBackupCodec *codec);

#endif							/* PROTECH_BACKUP_CODEC_H */
