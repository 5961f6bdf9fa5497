/*-------------------------------------------------------------------------
 *
 * stream.h
 *		The stream pipeline: hash, gzip/zstd, progress and file stages, a
 *		file source, the child-output sink, and the decompressing reader a
 *		restore pulls from (stream.c).  Built on
 *		codec.h, slot.h and child.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_STREAM_H
#define PROTECH_BACKUP_STREAM_H

#include "lib/stringinfo.h"

#include "storage.h"

typedef struct ProtechBackupStream ProtechBackupStream;

/*
 * What every stage does: take the next bytes, and finish (flush what it
 * holds, then finish the next stage).  A stage is a struct that starts
 * with this, made by protech_backup_stream_new_stage.
 */
struct ProtechBackupStream
{
	void		(*write) (ProtechBackupStream *stage, const char *data,
						  size_t len);
	void		(*finish) (ProtechBackupStream *stage);
	ProtechBackupStream *next;	/* NULL: what is passed on is dropped */
};

/* reads up to size bytes into buf: how many, 0 at the end */
typedef ssize_t (*ProtechBackupRead) (char *buf, size_t size, void *arg);

extern void *protech_backup_stream_new_stage(size_t size,
											 void (*write) (ProtechBackupStream *, const char *, size_t),
											 void (*finish) (ProtechBackupStream *),
											 ProtechBackupStream *next);

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

typedef struct ProtechBackupStreamReader ProtechBackupStreamReader;

extern ProtechBackupStreamReader *protech_backup_stream_reader(const char *path,
															   ProtechBackupMethod method);
extern ProtechBackupStreamReader *protech_backup_stream_reader_of(const char *path,
																  ProtechBackupRead raw,
																  void (*raw_close) (void *arg),
																  void *raw_arg,
																  ProtechBackupMethod method);
extern bool protech_backup_stream_read(StringInfo buf, void *arg);
extern void protech_backup_stream_reader_close(ProtechBackupStreamReader *reader);

#endif							/* PROTECH_BACKUP_STREAM_H */
