/*-------------------------------------------------------------------------
 *
 * durable.c
 *		The paths of the backup directory's files, and making those files
 *		durable: fsync of a file or a directory, and the
 *		write-fsync-rename-fsync sequence.
 *
 * Every path of a file in the backup directory is built by
 * protech_backup_build_path(), which raises an error rather than truncate
 * it: a truncated path names another file (the directory itself, when it
 * is long enough), which a backup would then test, write or remove.
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
 * Build "<directory>/<name><suffix>" into path (MAXPGPATH bytes), raising
 * name_too_long when it does not fit.
 */
void
protech_backup_build_path(char *path, const char *directory,
						  const char *name, const char *suffix)
{
	if (snprintf(path, MAXPGPATH, "%s/%s%s", directory, name, suffix) >= MAXPGPATH)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("path of file \"%s%s\" in directory \"%s\" is too long",
						name, suffix, directory),
				 errhint("Set protech_backup.directory to a shorter path.")));
}

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
