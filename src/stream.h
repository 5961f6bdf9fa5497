/*-------------------------------------------------------------------------
 *
 * stream.h
 *		The stream pipeline: hash, gzip/zstd, progress and file stages, a
 *		file source and the child-output sink (stream.c).  Built on
 *		codec.h, slot.h and child.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_STREAM_H
#define PROTECH_BACKUP_STREAM_H

#include "storage.h"

typedef struct ProtechBackupStream ProtechBackupStream;

extern void protech_backup_stream_write(ProtechBackupStream *stage,
										const char *data, size_t len);
extern void protech_backup_stream_finish(ProtechBackupStream *stage);
extern void protech_backup_stream_sink(const char *data, size_t len,
									   void *arg);

extern ProtechBackupStream *protech_backup_stream_hash(ProtechBackupStream *next);
extern void protech_backup_stream_hash_result(ProtechBackupStream *stage,
											  int64 *size, char *sha256);
extern ProtechBackupStream *protech_backup_stream_codec(ProtechBackupMethod method,
														int level, bool compress,
														ProtechBackupStream *next);
extern const char *protech_backup_stream_codec_error(ProtechBackupStream *stage);
extern ProtechBackupStream *protech_backup_stream_progress(ProtechBackupStream *next);
extern ProtechBackupStream *protech_backup_stream_file(const char *path, int *fd);
extern bool protech_backup_stream_file_source(const char *path, bool sync,
											  ProtechBackupStream *stage,
											  char **problem);

#endif							/* PROTECH_BACKUP_STREAM_H */
