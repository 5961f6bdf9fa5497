/*-------------------------------------------------------------------------
 *
 * durable.c
 *		The file-system operations of the backup directory: its paths
 *		checked for truncation, opening without following symbolic links,
 *		fsync of a file or a directory, the durable renames of a file
 *		(write-fsync-rename-fsync) and of a sealed folder, the removal of a
 *		file or a folder, and the free space of a file system.  Depends on
 *		no other module.
 *
 * Every path of a file in the backup directory is built by
 * protech_backup_build_path(), which raises an error rather than truncate
 * it: a truncated path names another file (the directory itself, when it
 * is long enough), which a backup would then test, write or remove.
 *
 * Every file of the backup directory this extension reads or rewrites is
 * opened by protech_backup_open_nofollow(), which never follows a
 * symbolic link and checks that it opened a regular file (or a real
 * directory): a symlink planted under a backup's name must not make the
 * extension serve, hash or overwrite the file it points at.
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
 * Open path as a transient file with flags (and mode, for O_CREAT) without
 * following a symbolic link (O_NOFOLLOW, and O_NONBLOCK so that a FIFO
 * cannot block the open), and check with fstat that it is a regular file,
 * or a directory when flags has O_DIRECTORY.  Returns the descriptor.  On
 * failure returns -1 with *problem saying why ("\"...\" is a symbolic
 * link") and errno set for file access errors, or, when problem is NULL,
 * raises the error.
 */
int
protech_backup_open_nofollow(const char *path, int flags, mode_t mode,
							 char **problem)
{
	bool		directory = (flags & O_DIRECTORY) != 0;
	int			fd = OpenTransientFilePerm(path,
										   flags | O_NOFOLLOW | O_NONBLOCK | PG_BINARY,
										   mode);
	struct stat st;
	char	   *why = NULL;
	int			save_errno;

	if (fd < 0)
	{
		save_errno = errno;
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			why = psprintf("\"%s\" is a symbolic link", path);
		else
		{
			errno = save_errno;
			why = psprintf((flags & O_CREAT) ? "could not create file \"%s\": %m" :
						   "could not open file \"%s\": %m", path);
		}
	}
	else if (fstat(fd, &st) != 0)
	{
		save_errno = errno;
		why = psprintf("could not stat file \"%s\": %m", path);
		CloseTransientFile(fd);
		fd = -1;
	}
	else if (directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
	{
		save_errno = 0;
		why = psprintf(directory ? "\"%s\" is not a directory" :
					   "\"%s\" is not a regular file", path);
		CloseTransientFile(fd);
		fd = -1;
	}
	if (fd >= 0)
		return fd;

	errno = save_errno;
	if (problem == NULL)
		ereport(ERROR,
				(save_errno ? errcode_for_file_access() :
				 errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg_internal("%s", why)));
	*problem = why;
	return -1;
}

/*
 * fsync a file (never through a symbolic link) or (isdir) a directory.
 * On failure reports at elevel and returns false.
 */
bool
protech_backup_fsync(const char *path, bool isdir, int elevel)
{
	int			fd = OpenTransientFile(path, (isdir ? O_RDONLY : O_RDWR | O_NOFOLLOW) |
										   PG_BINARY);
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
	char	   *parent = pstrdup(to);

	if (rename(from, to) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename folder \"%s\" to \"%s\": %m",
						from, to)));
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
	char	   *probe = pstrdup(path);
	struct statvfs st;

	while (statvfs(probe, &st) != 0)
	{
		if (errno != ENOENT || strcmp(probe, "/") == 0 || probe[0] == '\0')
			return -1;
		get_parent_directory(probe);
		if (probe[0] == '\0')
			probe = pstrdup("/");
	}
	return (int64) st.f_bavail * st.f_frsize;
}
