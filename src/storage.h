/*-------------------------------------------------------------------------
 *
 * storage.h
 *		What a backup is stored as: its pg_dump format, its compression and
 *		who applies it, and the file name suffix of each valid combination
 *		(storage.c), and the pattern of a backup's file name.  A leaf
 *		module: it depends on no other.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_STORAGE_H
#define PROTECH_BACKUP_STORAGE_H

#include "utils/guc.h"

/* the values of protech_backup.format */
typedef enum ProtechBackupFormat
{
	PROTECH_BACKUP_FORMAT_PLAIN,
	PROTECH_BACKUP_FORMAT_CUSTOM,
	PROTECH_BACKUP_FORMAT_DIRECTORY
} ProtechBackupFormat;

/* compression methods, in the order storage.c names them */
typedef enum ProtechBackupMethod
{
	PROTECH_BACKUP_METHOD_NONE,
	PROTECH_BACKUP_METHOD_GZIP,
	PROTECH_BACKUP_METHOD_ZSTD
} ProtechBackupMethod;

/* who compresses a backup */
typedef enum ProtechBackupCompressor
{
	PROTECH_BACKUP_COMPRESSOR_NONE, /* nobody: stored uncompressed */
	PROTECH_BACKUP_COMPRESSOR_STREAM,	/* this extension, the whole stream */
	PROTECH_BACKUP_COMPRESSOR_PG_DUMP	/* pg_dump, inside its archive */
} ProtechBackupCompressor;

/*
 * How a backup is stored: one of the valid combinations of storage.c.
 */
typedef struct ProtechBackupStorage
{
	ProtechBackupFormat format;
	ProtechBackupMethod method;
	int			level;			/* 0 for PROTECH_BACKUP_METHOD_NONE */
	ProtechBackupCompressor compressor;
	const char *suffix;			/* of the file name, such as ".sql.zst" */
} ProtechBackupStorage;

/*
 * A compression setting as parsed: the method and its level (0 for
 * PROTECH_BACKUP_METHOD_NONE).
 */
typedef struct ProtechBackupCompression
{
	ProtechBackupMethod method;
	int			level;
} ProtechBackupCompression;

extern const struct config_enum_entry protech_backup_format_options[];
extern bool protech_backup_parse_compression(const char *value,
											 ProtechBackupCompression *result,
											 char **detail);
extern char *protech_backup_compression_name(ProtechBackupMethod method,
											 int level);
extern bool protech_backup_storage_for(ProtechBackupFormat format,
									   const ProtechBackupCompression *compression,
									   ProtechBackupStorage *storage);
extern bool protech_backup_storage_of(const char *format,
									  const char *compression,
									  ProtechBackupStorage *storage);
extern bool protech_backup_is_backup_suffix(const char *suffix);
extern bool protech_backup_is_backup_name(const char *name);
extern bool protech_backup_is_encrypted_name(const char *name);
extern void protech_backup_database_tag(const char *database, char *tag);

#endif							/* PROTECH_BACKUP_STORAGE_H */
