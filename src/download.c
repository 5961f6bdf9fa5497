/*-------------------------------------------------------------------------
 *
 * download.c
 *		The SQL functions protech_backup_read() and
 *		protech_backup_read_size(): the bytes of a backup, a slice at a time,
 *		so that a DBA with nothing but an SQL connection can fetch it
 *		(bin/protech_backup_download does it with psql).
 *
 * A backup stored as one file is served as it is stored.  A
 * directory-format backup is a folder, served as a tar archive (ustar, as
 * pg_basebackup writes): an entry for the folder, one for each of its
 * files in byte order of their names, then the two zero blocks that end an
 * archive.  The archive is laid out from the folder's file names and sizes
 * alone, so every slice of it is computed without reading what comes
 * before, and the same folder always gives the same bytes.
 *
 * Reading the server's files is what pg_read_server_files is for: on top of
 * EXECUTE on the function, the caller must have the privileges of that role
 * (a superuser has them).  Only a backup's own dump is ever read, found by
 * its manifest.
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
#include "pgtar.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "protech_backup.h"

PG_FUNCTION_INFO_V1(protech_backup_read);
PG_FUNCTION_INFO_V1(protech_backup_read_size);

/* bytes read at a time, between interrupt checks */
#define READ_CHUNK (1024 * 1024)
/* the longest slice: the largest bytea */
#define MAX_SLICE (MaxAllocSize - VARHDRSZ)

/*
 * One stretch of the bytes served: a tar header held in memory, a range
 * of a file, or zeros (padding and the end of the archive).
 */
typedef struct ServedPiece
{
	int64		length;
	const char *header;			/* TAR_BLOCK_SIZE bytes, or NULL */
	const char *path;			/* the file whose first length bytes these
								 * are, or NULL */
} ServedPiece;

/*
 * The bytes served for a backup, in order.
 */
typedef struct ServedBackup
{
	ServedPiece *pieces;
	int			count;
	int64		size;
} ServedBackup;

/*
 * Append a piece to what is served.
 */
static void
add_piece(ServedBackup *served, int64 length, const char *header,
		  const char *path)
{
	ServedPiece *piece = &served->pieces[served->count++];

	piece->length = length;
	piece->header = header;
	piece->path = path;
	served->size += length;
}

/*
 * Append the tar header of name (a file of size bytes, or the folder when
 * mode says so) to what is served.
 */
static void
add_tar_header(ServedBackup *served, const char *name, int64 size,
			   mode_t mode, time_t mtime)
{
	char	   *header = palloc0(TAR_BLOCK_SIZE);

	if (tarCreateHeader(header, name, NULL, size, mode, geteuid(), getegid(),
						mtime) != TAR_OK)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("name \"%s\" is too long for a tar archive", name)));
	add_piece(served, TAR_BLOCK_SIZE, header, NULL);
}

/*
 * The caller's backup argument checked (privileges, a listed backup, a
 * known format) and laid out as the pieces served for it.
 */
static ServedBackup *
served_backup(FunctionCallInfo fcinfo)
{
	ServedBackup *served = palloc0(sizeof(ServedBackup));
	ProtechBackupInfo *info;
	ProtechBackupStorage storage;
	char	   *directory;
	char	   *path;
	char	  **names;
	char	   *problem;
	int			count;
	int			fd;
	struct stat st;

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
	if (!protech_backup_storage_of(info->format, info->compression, &storage))
		elog(ERROR, "backup \"%s\" has an unknown format", info->file_name);

	/* never through a symbolic link: it is not a backup then */
	path = psprintf("%s/%s", directory, info->file_name);
	fd = protech_backup_open_nofollow(path,
									  storage.format == PROTECH_BACKUP_FORMAT_DIRECTORY ?
									  O_RDONLY | O_DIRECTORY : O_RDONLY,
									  0, &problem);
	if (fd < 0)
		protech_backup_report_not_a_backup(info->file_name, directory, problem);
	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat \"%s\": %m", path)));
	CloseTransientFile(fd);
	if (storage.format != PROTECH_BACKUP_FORMAT_DIRECTORY)
	{
		served->pieces = palloc(sizeof(ServedPiece));
		add_piece(served, st.st_size, NULL, path);
		return served;
	}

	names = protech_backup_folder_files(path, &count, &problem);
	if (names == NULL)
		protech_backup_report_not_a_backup(info->file_name, directory, problem);
	served->pieces = palloc((3 * count + 2) * sizeof(ServedPiece));
	add_tar_header(served, info->file_name, 0, S_IFDIR | S_IRWXU, st.st_mtime);
	for (int i = 0; i < count; i++)
	{
		char	   *file = psprintf("%s/%s", path, names[i]);

		if (lstat(file, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat \"%s\": %m", file)));
		add_tar_header(served, psprintf("%s/%s", info->file_name, names[i]),
					   st.st_size, S_IFREG | S_IRUSR | S_IWUSR, st.st_mtime);
		add_piece(served, st.st_size, NULL, file);
		add_piece(served, tarPaddingBytesRequired(st.st_size), NULL, NULL);
	}
	add_piece(served, 2 * TAR_BLOCK_SIZE, NULL, NULL);
	return served;
}

/*
 * Read exactly length bytes of the file at path from offset into buf;
 * raises an error if the file is shorter than that (it changed since the
 * pieces were laid out).
 */
static void
read_file_range(const char *path, char *buf, int64 offset, int64 length)
{
	int			fd = protech_backup_open_nofollow(path, O_RDONLY, 0, NULL);
	int64		done = 0;

	while (done < length)
	{
		ssize_t		n;

		CHECK_FOR_INTERRUPTS();
		n = pg_pread(fd, buf + done, Min(length - done, READ_CHUNK),
					 offset + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("file \"%s\" changed while it was being read", path),
					 errhint("Read the backup again from the start.")));
		done += n;
	}
	CloseTransientFile(fd);
}

/*
 * SQL: protech_backup_read(file_name text, "offset" bigint, length integer)
 *		RETURNS bytea
 *
 * Up to length bytes of the backup file_name as served (the file as
 * stored, compressed or not; a folder as a tar archive) from byte offset
 * on: fewer at its end, none past it.
 */
Datum
protech_backup_read(PG_FUNCTION_ARGS)
{
	ServedBackup *served = served_backup(fcinfo);
	int64		offset;
	int32		length;
	int64		wanted;
	int64		start = 0;
	bytea	   *result;

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

	wanted = Max(Min((int64) length, served->size - offset), 0);
	result = (bytea *) palloc0(VARHDRSZ + wanted);
	SET_VARSIZE(result, VARHDRSZ + wanted);
	for (int i = 0; i < served->count; i++)
	{
		ServedPiece *piece = &served->pieces[i];
		int64		from = Max(offset, start);
		int64		to = Min(offset + wanted, start + piece->length);

		if (from < to && piece->header)
			memcpy(VARDATA(result) + (from - offset),
				   piece->header + (from - start), to - from);
		else if (from < to && piece->path)
			read_file_range(piece->path, VARDATA(result) + (from - offset),
							from - start, to - from);
		start += piece->length;
	}
	PG_RETURN_BYTEA_P(result);
}

/*
 * SQL: protech_backup_read_size(file_name text) RETURNS bigint
 *
 * How many bytes protech_backup_read() serves for the backup: the size of
 * its file, or of the tar archive of its folder.
 */
Datum
protech_backup_read_size(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(served_backup(fcinfo)->size);
}
