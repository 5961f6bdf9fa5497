/*-------------------------------------------------------------------------
 *
 * durable.c
 *		The file-system operations of the backup directory: fsync of a file
 *		or a directory, the durable renames of a file (write-fsync-rename-
 *		fsync) and of a sealed folder, the removal of a file or a folder,
 *		and the free space of a file system.  Depends on no other module.
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
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "storage/fd.h"

#include "durable.h"

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

/*
 * Rename the folder from (sealed already: its files and itself synced) to
 * to durably: rename it, then sync the directory holding it.
 */
void
protech_backup_durable_rename_folder(const char *from, const char *to)
{
	char		parent[MAXPGPATH];

	if (rename(from, to) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename folder \"%s\" to \"%s\": %m",
						from, to)));
	strlcpy(parent, to, sizeof(parent));
	get_parent_directory(parent);
	protech_backup_fsync(parent, true, ERROR);
}

/*
 * Remove the stored backup (or partial backup) at path: a file, or a
 * folder with everything in it.  A path that does not exist is no failure.
 * Failures are reported as WARNING; returns whether everything was
 * removed.
 */
bool
protech_backup_remove_dump(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
	{
		if (errno == ENOENT)
			return true;
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not stat \"%s\": %m", path)));
		return false;
	}
	if (S_ISDIR(st.st_mode))
		return rmtree(path, true);
	if (unlink(path) != 0 && errno != ENOENT)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
		return false;
	}
	return true;
}

/*
 * Free bytes for an unprivileged writer in the file system holding path,
 * or of its nearest existing ancestor when path does not exist yet; -1
 * when even that cannot be read.  For protech_backup_runtime() and the
 * free-space check before a backup (backup.c).
 */
int64
protech_backup_free_bytes(const char *path)
{
	char		probe[MAXPGPATH];
	struct statvfs st;

	strlcpy(probe, path, sizeof(probe));
	while (statvfs(probe, &st) != 0)
	{
		if (errno != ENOENT || strcmp(probe, "/") == 0 || probe[0] == '\0')
			return -1;
		get_parent_directory(probe);
		if (probe[0] == '\0')
			strlcpy(probe, "/", sizeof(probe));
	}
	return (int64) st.f_bavail * st.f_frsize;
}
