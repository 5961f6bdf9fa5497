/*-------------------------------------------------------------------------
 *
 * download.c
 *		What the SQL functions protech_backup_read() and
 *		protech_backup_read_size() serve: the bytes of a backup, a slice at a
 *		time, so that a DBA with nothing but an SQL connection can fetch it
 *		(bin/protech_backup_download does it with psql).  Built on
 *		repository.c and stream.c (a file's bytes are read through a file
 *		range source into a buffer stage).
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
#include "miscadmin.h"
#include "pgtar.h"
#include "storage/fd.h"
#include "utils/acl.h"

#include "download.h"
#include "durable.h"
#include "repository.h"
#include "stream.h"

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
struct ProtechBackupServed
{
	ServedPiece *pieces;
	int			count;
	int64		size;
};

/*
 * Append a piece to what is served.
 */
static void
add_piece(ProtechBackupServed *served, int64 length, const char *header,
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
add_tar_header(ProtechBackupServed *served, const char *name, int64 size,
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
 * Raise insufficient_privilege unless the caller may read backups: reading
 * the server's files is what pg_read_server_files is for.
 */
void
protech_backup_check_read_privilege(void)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read backups"),
				 errdetail("Only roles with the privileges of role \"%s\" may read backups.",
						   "pg_read_server_files"),
				 errhint("Grant role \"%s\" to the role that downloads backups.",
						 "pg_read_server_files")));
}

/*
 * The backup info describes, in directory, laid out as the pieces served
 * for it.
 */
ProtechBackupServed *
protech_backup_serve(const char *directory, const ProtechBackupInfo *info)
{
	ProtechBackupServed *served = palloc0(sizeof(ProtechBackupServed));
	ProtechBackupStorage storage;
	char	   *path;
	char	  **names;
	char	   *problem;
	int			count;
	int			fd;
	struct stat st;

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
 * Read exactly length bytes of the file at path from offset into buf,
 * through the stream pipeline (file range source -> buffer), as verify and
 * restore read; raises an error if the file is shorter than that (it
 * changed since the pieces were laid out).
 */
static void
read_file_range(const char *path, char *buf, int64 offset, int64 length)
{
	int64		filled;
	char	   *problem;

	if (!protech_backup_stream_file_range(path, offset, length,
										  protech_backup_stream_buffer(buf, length,
																	   &filled),
										  &problem))
	{
		int			save_errno = errno;

		/* as protech_backup_open_nofollow() raises it: 0 for a wrong type */
		ereport(ERROR,
				(save_errno ? errcode_for_file_access() :
				 errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg_internal("%s", problem)));
	}
	if (filled < length)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("file \"%s\" changed while it was being read", path),
				 errhint("Read the backup again from the start.")));
}

/*
 * Up to length bytes of what is served from byte offset on: fewer at its
 * end, none past it.
 */
bytea *
protech_backup_read_served(const ProtechBackupServed *served, int64 offset,
						   int32 length)
{
	int64		wanted = Max(Min((int64) length, served->size - offset), 0);
	int64		start = 0;
	bytea	   *result;

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
	return result;
}

/*
 * How many bytes are served: the size of the backup's file, or of the tar
 * archive of its folder.
 */
int64
protech_backup_served_size(const ProtechBackupServed *served)
{
	return served->size;
}
