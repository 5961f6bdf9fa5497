/*-------------------------------------------------------------------------
 *
 * durable.c
 *		Making the backup directory's files durable: fsync of a file or a
 *		directory, and the write-fsync-rename-fsync sequence.
 *
 * PostgreSQL's own fsync_fname() and durable_rename() escalate an fsync
 * failure to PANIC (unless data_sync_retry is on), which is right for the
 * data directory but would take the whole server down for a failing
 * backup disk.  These report the failure at the level the caller asks for
 * instead: the backup fails, the database keeps running.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "storage/fd.h"

#include "protech_backup.h"

/*
 * fsync a file or (isdir) a directory.  On failure reports at elevel and
 * returns false.
 */
bool
protech_backup_fsync(const char *path, bool isdir, int elevel)
{
	int			fd = OpenTransientFile(path, (isdir ? O_RDONLY : O_RDWR) | PG_BINARY);
	int			save_errno;

	if (fd < 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not open \"%s\" to fsync it: %m", path)));
		return false;
	}
	if (pg_fsync(fd) != 0)
	{
		save_errno = errno;
		CloseTransientFile(fd);
		errno = save_errno;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not fsync \"%s\": %m", path)));
		return false;
	}
	CloseTransientFile(fd);
	return true;
}

/*
 * Rename a complete file into place durably: fsync it, rename it, fsync
 * the directory that holds it.  Raises an ERROR on failure.
 */
void
protech_backup_durable_rename(const char *oldpath, const char *newpath,
							  const char *directory)
{
	protech_backup_fsync(oldpath, false, ERROR);
	if (rename(oldpath, newpath) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename \"%s\" to \"%s\": %m",
						oldpath, newpath)));
	protech_backup_fsync(directory, true, ERROR);
}
