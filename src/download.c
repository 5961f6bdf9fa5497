/*-------------------------------------------------------------------------
 *
 * download.c
 *		The SQL function protech_backup_read(): the raw bytes of a backup, a
 *		slice at a time, so that a DBA with nothing but an SQL connection can
 *		fetch a backup (bin/protech_backup_download does it with psql).
 *
 * Reading the server's files is what pg_read_server_files is for: on top of
 * EXECUTE on the function, the caller must have the privileges of that role
 * (a superuser has them).  Only a backup's own dump is ever read, found by
 * its manifest; a directory-format backup is a folder, which has no single
 * byte stream, and is refused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "protech_backup.h"

PG_FUNCTION_INFO_V1(protech_backup_read);

/* bytes read at a time, between interrupt checks */
#define READ_CHUNK (1024 * 1024)
/* the longest slice: the largest bytea */
#define MAX_SLICE (MaxAllocSize - VARHDRSZ)

/*
 * SQL: protech_backup_read(file_name text, "offset" bigint, length integer)
 *		RETURNS bytea
 *
 * Up to length bytes of the backup file_name (as stored, compressed or
 * not) from byte offset on: fewer at its end, none past it.
 */
Datum
protech_backup_read(PG_FUNCTION_ARGS)
{
	ProtechBackupInfo *info;
	ProtechBackupStorage storage;
	char	   *directory;
	char	   *path;
	int64		offset;
	int32		length;
	int			fd;
	struct stat st;
	bytea	   *result;
	int64		done = 0;
	int64		wanted;

	protech_backup_require_preload();
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read backups"),
				 errdetail("Only roles with the privileges of role \"%s\" may read backups.",
						   "pg_read_server_files"),
				 errhint("Grant role \"%s\" to the role that downloads backups.",
						 "pg_read_server_files")));
	directory = protech_backup_resolved_directory();
	info = protech_backup_backup_argument(fcinfo, 0, directory);
	if (PG_ARGISNULL(1) || PG_GETARG_INT64(1) < 0)
		protech_backup_reject_argument("offset", "must not be null or negative", NULL);
	if (PG_ARGISNULL(2) || PG_GETARG_INT32(2) < 0)
		protech_backup_reject_argument("length", "must not be null or negative", NULL);
	offset = PG_GETARG_INT64(1);
	length = PG_GETARG_INT32(2);
	if (length > MAX_SLICE)
		protech_backup_reject_argument("length",
						psprintf("must be at most %d, the largest bytea",
								 (int) MAX_SLICE), NULL);
	if (!protech_backup_storage_of(info->format, info->compression, &storage))
		elog(ERROR, "backup \"%s\" has an unknown format", info->file_name);
	if (storage.format == PROTECH_BACKUP_FORMAT_DIRECTORY)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("backup \"%s\" is a folder, not a file", info->file_name),
				 errdetail("A directory-format backup is a folder of files, which cannot be read as one stream of bytes."),
				 errhint("Take backups to download in the custom format (protech_backup.format = custom), or copy the folder from the server's file system.")));

	path = psprintf("%s/%s", directory, info->file_name);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0 || fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	wanted = Max(Min((int64) length, (int64) st.st_size - offset), 0);
	result = (bytea *) palloc(VARHDRSZ + wanted);
	while (done < wanted)
	{
		ssize_t		n;

		CHECK_FOR_INTERRUPTS();
		n = pg_pread(fd, VARDATA(result) + done, Min(wanted - done, READ_CHUNK),
					 offset + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		if (n == 0)
			break;				/* it was truncated meanwhile */
		done += n;
	}
	CloseTransientFile(fd);
	SET_VARSIZE(result, VARHDRSZ + done);
	PG_RETURN_BYTEA_P(result);
}
