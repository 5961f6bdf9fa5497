/*-------------------------------------------------------------------------
 *
 * repository.c
 *		The backup directory and the backups in it: preparing the directory,
 *		its lock file (one writer at a time, across the servers sharing
 *		it), naming a new backup, listing the complete backups from their
 *		manifests (a run lists once, removing the partial files a crash left
 *		in the same reading, and reads manifests again by name where it must
 *		see a verification recorded since), finding the backup a file name
 *		names, sealing a directory-format dump, and
 *		reading a backup back to check it against its manifest.  Built on
 *		manifest.c, durable.c, stream.c, settings.c and slot.c.
 *
 * A backup exists exactly when its manifest parses (manifest.c), names its
 * own dump with the suffix of its format and compression, and that dump is
 * a regular file of the recorded size (a directory-format dump: a folder of
 * regular files of that total size): a dump without a valid manifest is
 * not a backup and is never listed.
 *
 * The size and SHA-256 of a file are those of its bytes as stored.  Those
 * of a folder are defined over the regular files directly inside it (a
 * folder holding anything else is not a backup): size_bytes is the sum of
 * their sizes, and sha256 is the SHA-256 of the listing that "sha256sum"
 * prints for them in byte order of their names, one line per file:
 *
 *		<64 lowercase hex digits><two spaces><file name><newline>
 *
 * which a DBA recomputes with
 *
 *		(cd <folder> && export LC_ALL=C && sha256sum -- * | sha256sum)
 *
 * Everything is read through the stream pipeline (stream.c), one
 * fixed-size buffer at a time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/timestamp.h"
#include "utils/builtins.h"

#include "child.h"
#include "durable.h"
#include "manifest.h"
#include "repository.h"
#include "settings.h"
#include "slot.h"
#include "stream.h"

/* file names tried for the backups started within one second */
#define MAX_NAME_TRIES 1000

/* the name a manifest has while it is written */
#define MANIFEST_PARTIAL_SUFFIX \
	PROTECH_BACKUP_MANIFEST_SUFFIX PROTECH_BACKUP_PARTIAL_SUFFIX

/*
 * Read the stored file at path to its end through the chain
 * file -> hash -> [decompress]: its size into *size and its SHA-256 into
 * sha256 (hex), fsyncing it first when sync is set, and decompressing it
 * fully with method unless that is PROTECH_BACKUP_METHOD_NONE.  Returns
 * false with *problem set (errno kept for file access errors) when it
 * cannot be read or does not decompress.
 */
static bool
read_stored_file(const char *path, bool sync, ProtechBackupMethod method,
				 int64 *size, char *sha256, char **problem)
{
	ProtechBackupStream *decompress = NULL;
	ProtechBackupStream *hash;

	if (method != PROTECH_BACKUP_METHOD_NONE)
		decompress = protech_backup_stream_codec(method, 0, false, NULL);
	hash = protech_backup_stream_hash(decompress);
	if (!protech_backup_stream_file_source(path, sync, hash, problem))
		return false;
	protech_backup_stream_hash_result(hash, size, sha256);
	if (decompress && protech_backup_stream_codec_error(decompress))
	{
		*problem = psprintf("file \"%s\": %s", path,
							protech_backup_stream_codec_error(decompress));
		errno = 0;
		return false;
	}
	return true;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The names of the entries of folder path in byte order, or NULL with
 * *problem set when it cannot be read, is not a real folder (a symbolic
 * link to one, say) or holds anything but regular files.
 */
char	  **
protech_backup_folder_files(const char *path, int *count, char **problem)
{
	char	  **names;
	int			n = 0;
	int			fd = protech_backup_open_nofollow(path, O_RDONLY | O_DIRECTORY,
												  0, problem);

	if (fd < 0)
		return NULL;
	CloseTransientFile(fd);
	names = pgfnames(path);
	if (names == NULL)
	{
		*problem = psprintf("could not read folder \"%s\"", path);
		return NULL;
	}
	for (; names[n]; n++)
	{
		char	   *file = psprintf("%s/%s", path, names[n]);
		struct stat st;

		if (lstat(file, &st) != 0 || !S_ISREG(st.st_mode))
		{
			*problem = psprintf("\"%s\" is not a regular file", file);
			pgfnames_cleanup(names);
			return NULL;
		}
	}
	qsort(names, n, sizeof(char *), compare_names);
	*count = n;
	return names;
}

/*
 * Size and SHA-256 of the folder at path as the file header defines them,
 * reading every file (fsyncing each and then the folder when sync is set;
 * fully decompressing each "*.gz" file when gunzip is set).  Returns false
 * with *problem set (errno kept for file access errors) when that fails.
 */
static bool
folder_digest(const char *path, bool sync, bool gunzip, int64 *size_bytes,
			  char *sha256, char **problem)
{
	ProtechBackupStream *listing = protech_backup_stream_hash(NULL);
	int64		listing_size;
	char	  **names;
	int			count;

	names = protech_backup_folder_files(path, &count, problem);
	if (names == NULL)
		return false;
	*size_bytes = 0;
	for (int i = 0; i < count; i++)
	{
		size_t		len = strlen(names[i]);
		bool		gz = gunzip && len > 3 && strcmp(names[i] + len - 3, ".gz") == 0;
		char		file_sha256[PG_SHA256_DIGEST_STRING_LENGTH];
		int64		file_size;
		char	   *line;

		if (!read_stored_file(psprintf("%s/%s", path, names[i]), sync,
							  gz ? PROTECH_BACKUP_METHOD_GZIP : PROTECH_BACKUP_METHOD_NONE,
							  &file_size, file_sha256, problem))
		{
			pgfnames_cleanup(names);
			return false;
		}
		*size_bytes += file_size;
		line = psprintf("%s  %s\n", file_sha256, names[i]);
		protech_backup_stream_write(listing, line, strlen(line));
		pfree(line);
	}
	pgfnames_cleanup(names);
	if (sync && !protech_backup_fsync(path, true, LOG))
	{
		*problem = psprintf("could not fsync folder \"%s\": %m", path);
		return false;
	}
	protech_backup_stream_finish(listing);
	protech_backup_stream_hash_result(listing, &listing_size, sha256);
	return true;
}

/*
 * Give the folder at path mode 0700 and every file in it mode 0600:
 * pg_dump creates its files with the modes the umask leaves (0640 when the
 * data directory allows group access).  Raises an error on failure.
 */
static void
make_folder_private(const char *path)
{
	char	   *problem;
	char	  **names;
	int			count;

	names = protech_backup_folder_files(path, &count, &problem);
	if (names == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seal directory-format dump: %s", problem)));
	for (int i = 0; i < count; i++)
	{
		char	   *file = psprintf("%s/%s", path, names[i]);

		if (chmod(file, S_IRUSR | S_IWUSR) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not change the mode of file \"%s\" to 0600: %m",
							file)));
		pfree(file);
	}
	pgfnames_cleanup(names);
	if (chmod(path, S_IRWXU) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not change the mode of folder \"%s\" to 0700: %m",
						path)));
}

/*
 * For a directory-format backup just written by pg_dump: make the folder
 * and its files private to the server's user, fsync every file and the
 * folder, and compute its size and SHA-256.  Raises an error when a file
 * cannot be read or synced.
 */
void
protech_backup_seal_folder(const char *path, int64 *size_bytes, char *sha256)
{
	char	   *problem;

	make_folder_private(path);
	if (!folder_digest(path, true, false, size_bytes, sha256, &problem))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seal directory-format dump: %s", problem)));
}

/*
 * The size of the stored backup at path, file or folder as its storage
 * says, or -1 when it is missing or not of that kind.  Cheap: it only
 * looks at file sizes.
 */
int64
protech_backup_stored_size(const char *path, const ProtechBackupStorage *storage)
{
	struct stat st;
	char	  **names;
	char	   *problem;
	int			count;
	int64		size = 0;

	if (lstat(path, &st) != 0)
		return -1;
	if (storage->format != PROTECH_BACKUP_FORMAT_DIRECTORY)
		return S_ISREG(st.st_mode) ? st.st_size : -1;
	if (!S_ISDIR(st.st_mode) ||
		(names = protech_backup_folder_files(path, &count, &problem)) == NULL)
		return -1;
	for (int i = 0; i < count; i++)
	{
		char	   *file = psprintf("%s/%s", path, names[i]);

		if (lstat(file, &st) != 0)
			size = -1;
		else if (size >= 0)
			size += st.st_size;
		pfree(file);
	}
	pgfnames_cleanup(names);
	return size;
}

/*
 * Whether what was read back (size, sha256) of the file at path matches what
 * the manifest records; if not, *problem says what differs.
 */
static bool
matches_manifest(const char *path, int64 size, const char *sha256,
				 int64 recorded_size, const char *recorded_sha256,
				 char **problem)
{
	if (size != recorded_size)
	{
		*problem = psprintf("\"%s\" has " INT64_FORMAT " bytes, its manifest records " INT64_FORMAT,
							path, size, recorded_size);
		return false;
	}
	if (strcmp(sha256, recorded_sha256) != 0)
	{
		*problem = psprintf("\"%s\" has SHA-256 %s, its manifest records %s",
							path, sha256, recorded_sha256);
		return false;
	}
	return true;
}

/*
 * Re-read the backup info describes, in directory, decompressing whatever
 * this extension or pg_dump compressed fully (not what is encrypted: that
 * needs no key, and age checks the rest when it decrypts), and recompute
 * the size and SHA-256 of the bytes as stored; the same for its globals
 * file and its database-level properties file (when the manifest records
 * one).  Returns
 * true when everything reads, decompresses and matches the manifest;
 * otherwise false with *problem set to a palloc'd sentence fragment saying
 * what is wrong.  For the verify function.
 */
bool
protech_backup_check_stored(const char *directory,
							const ProtechBackupInfo *info, char **problem)
{
	ProtechBackupStorage storage;
	char	   *path = psprintf("%s/%s", directory, info->file_name);
	char	   *globals = psprintf("%s/%s", directory, info->globals_file);
	int64		size;
	char		sha256[PG_SHA256_DIGEST_STRING_LENGTH];
	bool		ok;

	if (!protech_backup_storage_of(info->format, info->compression, &storage))
	{
		*problem = psprintf("format \"%s\" with compression \"%s\" is not known",
							info->format, info->compression);
		return false;
	}
	if (storage.format == PROTECH_BACKUP_FORMAT_DIRECTORY)
		ok = folder_digest(path, false,
						   storage.method == PROTECH_BACKUP_METHOD_GZIP,
						   &size, sha256, problem);
	else
		ok = read_stored_file(path, false,
							  storage.compressor == PROTECH_BACKUP_COMPRESSOR_STREAM &&
							  info->recipients.count == 0 ?
							  storage.method : PROTECH_BACKUP_METHOD_NONE,
							  &size, sha256, problem);
	ok = ok && matches_manifest(path, size, sha256, info->size_bytes,
								info->sha256, problem);
	ok = ok && read_stored_file(globals, false, PROTECH_BACKUP_METHOD_NONE,
								&size, sha256, problem);
	ok = ok && matches_manifest(globals, size, sha256,
								info->globals_size_bytes, info->globals_sha256,
								problem);
	if (info->properties_file[0] != '\0')
	{
		char	   *properties = psprintf("%s/%s", directory,
										  info->properties_file);

		ok = ok && read_stored_file(properties, false,
									PROTECH_BACKUP_METHOD_NONE, &size, sha256,
									problem);
		ok = ok && matches_manifest(properties, size, sha256,
									info->properties_size_bytes,
									info->properties_sha256, problem);
	}
	return ok;
}

/*
 * The lock file of the backup directory, PROTECH_BACKUP_LOCK_FILE: one
 * writer per directory, across every server that shares it.
 *
 * Whatever writes to the directory (a backup with its verification and
 * retention, protech_backup_cleanup(), the removal of stale partial files,
 * the manifest a verification rewrites) holds an exclusive open file
 * description lock (fcntl F_OFD_SETLK) on the whole lock file, taken
 * without waiting.  Such a lock belongs to the open file, not to the
 * process, so two processes of one server exclude each other as two
 * servers do, and NFSv4 and other shared file systems pass it to their
 * server, so servers on other hosts see it too.  It goes away when the
 * file is closed, whether by the holder or by the kernel when the holder
 * dies (on NFS, when the dead host's lease expires).  The file itself is
 * never removed: removing a lock file races with the next one to open it.
 * Its holder writes who it is into it (host name, system identifier, pid,
 * since when) and blanks that before letting go, so that a server that
 * finds it locked names the holder in its error.
 *
 * Inside one server, the cluster-wide backup slot (slot.c) stays what
 * orders the long writers: they take the slot first, then the lock file
 * (protech_backup_claim_directory), and let go in the reverse order
 * (protech_backup_release_directory), holding the file open in the process
 * that writes.  The shared state records that the slot's holder holds the
 * lock file too, so that a verification in another process of the same
 * server may rewrite a manifest meanwhile (protech_backup_begin_manifest_update):
 * the lock file is taken and given back only under the manifest lock,
 * which that rewrite holds.
 */

/*
 * The lock file holds one line of exactly this many bytes: who holds it,
 * padded with spaces, or only spaces while nobody does.  Its size never
 * changes once created, so taking and giving it back needs no free space:
 * on a full disk the cleanup that frees space still gets the lock.
 */
#define LOCK_HOLDER_SIZE 512

/* how long a server that finds the file locked waits for the holder's name */
#define LOCK_HOLDER_TRIES 20
#define LOCK_HOLDER_RETRY_US 10000

/* the open lock file of this process, -1 when it holds none */
static int	directory_lock_fd = -1;

/* whether this process took it for a manifest update only */
static bool directory_locked_for_manifest = false;

/*
 * The holder's description in the lock file open as fd, for the error of a
 * server that finds it locked: what the holder wrote, as printable ASCII,
 * or a sentence saying it wrote nothing (yet: it writes its name right
 * after it takes the lock, so a blank line is read again for a moment).
 */
static char *
read_lock_holder(int fd)
{
	char		buf[LOCK_HOLDER_SIZE + 1];

	for (int try = 0; try < LOCK_HOLDER_TRIES; try++)
	{
		ssize_t		len = pread(fd, buf, LOCK_HOLDER_SIZE, 0);

		/* trailing padding and newline off */
		while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\n'))
			len--;
		if (len > 0)
		{
			buf[len] = '\0';
			/* another server wrote it: keep it one line of printable ASCII */
			for (ssize_t i = 0; i < len; i++)
				if (buf[i] < 0x20 || buf[i] > 0x7e)
					buf[i] = '?';
			return pstrdup(buf);
		}
		pg_usleep(LOCK_HOLDER_RETRY_US);
	}
	return pstrdup("a process that has not written its name into it");
}

/*
 * Write the line of the lock file open as fd (see LOCK_HOLDER_SIZE): who
 * holds it, "process P of the server on host H with system identifier S,
 * since T", synced so that servers on other hosts read it; or, when
 * releasing, spaces.  A holder that cannot write its name raises an error;
 * one that cannot blank it on release only logs that.
 */
static void
write_lock_holder(int fd, const char *path, bool holding)
{
	char		line[LOCK_HOLDER_SIZE];
	int			len = 0;

	if (holding)
	{
		char		host[256];

		if (gethostname(host, sizeof(host)) != 0)
			strlcpy(host, "(unknown)", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		len = snprintf(line, sizeof(line),
					   "process %d of the server on host \"%.64s\" with system identifier " UINT64_FORMAT ", since %s",
					   MyProcPid, host, GetSystemIdentifier(),
					   timestamptz_to_str(GetCurrentTimestamp()));
		len = Min(len, LOCK_HOLDER_SIZE - 1);
	}
	memset(line + len, ' ', LOCK_HOLDER_SIZE - 1 - len);
	line[LOCK_HOLDER_SIZE - 1] = '\n';
	errno = 0;
	if (pwrite(fd, line, LOCK_HOLDER_SIZE, 0) != LOCK_HOLDER_SIZE ||
		(holding && pg_fsync(fd) != 0))
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(holding ? ERROR : LOG,
				(errcode_for_file_access(),
				 errmsg("could not write to file \"%s\": %m", path)));
	}
}

/*
 * Take the lock file of directory for this process, without waiting.
 * Returns true when it did; false with *holder describing who holds it.
 * Raises an error when the file cannot be opened or written.  The caller
 * holds the manifest lock.
 */
static bool
lock_directory(const char *directory, char **holder)
{
	char		path[MAXPGPATH];
	struct flock lock = {0};
	struct stat st;
	int			fd;

	Assert(directory_lock_fd < 0);
	protech_backup_build_path(path, directory, PROTECH_BACKUP_LOCK_FILE, "");

	/*
	 * Not a transient file (protech_backup_open_nofollow): it stays open
	 * across transactions, and must not be inherited by the programs a
	 * backup runs.  The same checks otherwise: no symbolic link followed, no
	 * FIFO waited for, a regular file.
	 */
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | PG_BINARY,
			  S_IRUSR | S_IWUSR);
	if (fd < 0 && errno == ELOOP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a symbolic link", path)));
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", path)));
	}
	lock.l_type = F_WRLCK;
	lock.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_SETLK, &lock) != 0)
	{
		int			save_errno = errno;

		if (save_errno != EAGAIN && save_errno != EACCES)
		{
			close(fd);
			errno = save_errno;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not lock file \"%s\": %m", path)));
		}
		*holder = read_lock_holder(fd);
		close(fd);
		return false;
	}
	PG_TRY();
	{
		write_lock_holder(fd, path, true);
	}
	PG_CATCH();
	{
		close(fd);
		PG_RE_THROW();
	}
	PG_END_TRY();
	directory_lock_fd = fd;
	return true;
}

/*
 * Give the lock file back, its line blanked, if this process holds it.
 * The caller holds the manifest lock.
 */
static void
unlock_directory(void)
{
	if (directory_lock_fd < 0)
		return;
	/* a holder that cannot blank it is still named by the next one */
	write_lock_holder(directory_lock_fd, PROTECH_BACKUP_LOCK_FILE, false);
	close(directory_lock_fd);
	directory_lock_fd = -1;
	directory_locked_for_manifest = false;
}

/*
 * Raise object_in_use for the lock file of directory, held by holder.
 */
static void
report_directory_locked(const char *directory, const char *holder)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("backup directory \"%s\" is locked by another server",
					directory),
			 errdetail("Its lock file \"%s\" is held by %s.",
					   PROTECH_BACKUP_LOCK_FILE, holder),
			 errhint("Servers sharing a backup directory write to it one at a time: "
					 "try again once the other server's backup or cleanup has finished, "
					 "or give each server a directory of its own.")));
}

/*
 * For a process that has just claimed the slot: prepare directory (see
 * protech_backup_prepare_directory) and take its lock file, under the
 * manifest lock.  Returns false with *holder describing the other server
 * that holds it.
 */
static bool
lock_claimed_directory(const char *directory, char **holder)
{
	bool		locked;

	protech_backup_prepare_directory(directory);
	protech_backup_lock_manifests();
	locked = lock_directory(directory, holder);
	if (locked)
		protech_backup_slot_set_directory_locked(true);
	protech_backup_unlock_manifests();
	return locked;
}

/*
 * Make directory ready for writing and take it for this process: the
 * cluster-wide backup slot for history row run_id (0 if none), then the
 * directory (see protech_backup_prepare_directory), then its lock file.
 * Raises object_in_use at once when another backup of this server holds
 * the slot, or another server the lock file, naming the holder; then this
 * process holds neither.  Give both back with
 * protech_backup_release_directory().
 */
void
protech_backup_claim_directory(const char *directory, int64 run_id)
{
	char	   *holder = NULL;

	protech_backup_claim_slot(run_id);
	PG_TRY();
	{
		if (!lock_claimed_directory(directory, &holder))
			report_directory_locked(directory, holder);
	}
	PG_CATCH();
	{
		protech_backup_release_directory();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Like protech_backup_claim_directory(), for start-up housekeeping: false,
 * holding nothing, when the directory does not exist, the slot or the
 * lock file is taken, or the directory cannot be prepared (which the next
 * backup reports).
 */
bool
protech_backup_try_claim_directory(const char *directory)
{
	MemoryContext context = CurrentMemoryContext;
	struct stat st;
	bool		claimed = false;

	/* a directory that does not exist yet has nothing to clean up */
	if (stat(directory, &st) != 0 || !protech_backup_try_claim_slot(0))
		return false;
	PG_TRY();
	{
		char	   *holder;

		claimed = lock_claimed_directory(directory, &holder);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		FlushErrorState();
		if (protech_backup_manifests_locked_by_me())
			protech_backup_unlock_manifests();
		claimed = false;
	}
	PG_END_TRY();
	if (!claimed)
		protech_backup_release_directory();
	return claimed;
}

/*
 * Give back the lock file, then the slot, whichever this process holds.
 * Safe on any error path, even one raised while the manifest lock is held
 * or before anything was taken.
 */
void
protech_backup_release_directory(void)
{
	if (directory_lock_fd >= 0)
	{
		bool		held = protech_backup_manifests_locked_by_me();

		if (!held)
			protech_backup_lock_manifests();
		protech_backup_slot_set_directory_locked(false);
		unlock_directory();
		if (!held)
			protech_backup_unlock_manifests();
	}
	protech_backup_release_slot();
}

/*
 * Before a process that may not hold the directory rewrites a manifest in
 * it (a verification): take the manifest lock, and make sure this server
 * may write there, because a process of this server holds the slot and
 * the lock file (see protech_backup_slot_directory_locked), or else by
 * taking the lock file.  Returns false, holding nothing, with *holder
 * describing the other server that holds it.  End with
 * protech_backup_end_manifest_update().
 */
bool
protech_backup_begin_manifest_update(const char *directory, char **holder)
{
	protech_backup_lock_manifests();
	if (protech_backup_slot_directory_locked())
		return true;
	PG_TRY();
	{
		directory_locked_for_manifest = lock_directory(directory, holder);
	}
	PG_CATCH();
	{
		protech_backup_unlock_manifests();
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!directory_locked_for_manifest)
		protech_backup_unlock_manifests();
	return directory_locked_for_manifest;
}

/*
 * The end of protech_backup_begin_manifest_update(), on every path: give
 * back the lock file if it was taken for the update, then the manifest
 * lock.
 */
void
protech_backup_end_manifest_update(void)
{
	if (directory_locked_for_manifest)
		unlock_directory();
	protech_backup_unlock_manifests();
}

/*
 * Remove the ".partial" file or folder name of directory, which a crashed
 * backup left behind, and log it.  Only called while holding the backup
 * slot and the directory's lock file, so none of them belongs to a live
 * backup of this server or of another sharing the directory, and a
 * partial manifest only while holding the manifest lock, so none belongs
 * to a live verification.
 */
static void
remove_stale_partial(const char *directory, const char *name)
{
	char		path[MAXPGPATH];
	size_t		len = strlen(name);
	bool		manifest;
	bool		removed;

	protech_backup_build_path(path, directory, name, "");
	/* a verification may be writing a manifest: that happens locked */
	manifest = len >= strlen(MANIFEST_PARTIAL_SUFFIX) &&
		strcmp(name + len - strlen(MANIFEST_PARTIAL_SUFFIX),
			   MANIFEST_PARTIAL_SUFFIX) == 0;
	if (manifest)
		protech_backup_lock_manifests();
	removed = protech_backup_remove_dump(path);
	if (manifest)
		protech_backup_unlock_manifests();
	if (removed)
		ereport(LOG,
				(errmsg("protech_backup: removed stale partial backup \"%s\"",
						path)));
}

/*
 * Whether a file of that name exists in the directory.
 */
static bool
file_exists_in(const char *directory, const char *name, const char *suffix)
{
	char		path[MAXPGPATH];
	struct stat st;

	protech_backup_build_path(path, directory, name, suffix);
	return lstat(path, &st) == 0;
}

/*
 * Whether a file of the backup file_name exists in directory: its dump,
 * its manifest, one of its extra files (globals, database-level
 * properties) in clear or encrypted, or its partial.
 */
static bool
any_file_exists_in(const char *directory, const char *file_name)
{
	static const char *const suffixes[] = {
		"",
		PROTECH_BACKUP_MANIFEST_SUFFIX,
		PROTECH_BACKUP_GLOBALS_SUFFIX,
		PROTECH_BACKUP_GLOBALS_SUFFIX PROTECH_BACKUP_AGE_SUFFIX,
		PROTECH_BACKUP_PROPERTIES_SUFFIX,
		PROTECH_BACKUP_PROPERTIES_SUFFIX PROTECH_BACKUP_AGE_SUFFIX,
		PROTECH_BACKUP_PARTIAL_SUFFIX,
	};

	for (int i = 0; i < lengthof(suffixes); i++)
		if (file_exists_in(directory, file_name, suffixes[i]))
			return true;
	return false;
}

/*
 * Choose the backup's file name from its start time in
 * protech_backup.timezone: protech_backup_YYYYMMDD_HHMMSS, or
 * protech_backup_TAG_YYYYMMDD_HHMMSS with the tag of database when it is
 * not NULL (protech_backup_database_tag), followed by the
 * suffix of its storage (".sql", ".sql.zst", ...), with "_2", "_3", ...
 * inserted before the suffix when a file of that name (dump, manifest,
 * extra file in clear or encrypted, or partial: any_file_exists_in)
 * already exists, so two backups in one second never collide.  At most MAX_NAME_TRIES names are tried, checking for
 * interrupts.  Called holding the directory's lock file, so that no other
 * server sharing the directory chooses at the same time.
 */
void
protech_backup_choose_file_name(const char *directory, TimestampTz started_at,
								const char *database, const char *suffix,
								char *file_name)
{
	pg_time_t	t = timestamptz_to_time_t(started_at);
	struct pg_tm *tm = pg_localtime(&t, protech_backup_timezone_in_force());
	char		tag[PROTECH_BACKUP_TAG_SIZE + 1] = "";
	char		stem[64 + PROTECH_BACKUP_TAG_SIZE];

	if (database != NULL)
	{
		protech_backup_database_tag(database, tag);
		strcat(tag, "_");
	}
	snprintf(stem, sizeof(stem), PROTECH_BACKUP_PREFIX "%s%04d%02d%02d_%02d%02d%02d",
			 tag, tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
			 tm->tm_hour, tm->tm_min, tm->tm_sec);
	for (int n = 1; n <= MAX_NAME_TRIES; n++)
	{
		protech_backup_check_for_interrupts();
		if (n == 1)
			snprintf(file_name, MAXPGPATH, "%s%s", stem, suffix);
		else
			snprintf(file_name, MAXPGPATH, "%s_%d%s", stem, n, suffix);
		if (!any_file_exists_in(directory, file_name))
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_FILE),
			 errmsg("could not choose a file name for the backup in directory \"%s\"",
					directory),
			 errdetail("Files named %s to %s_%d%s exist already.",
					   psprintf("%s%s", stem, suffix), stem, MAX_NAME_TRIES, suffix)));
}

/*
 * Make sure the backup directory exists (creating its last component) and
 * is a directory of mode 0700, whatever the umask.  An existing directory
 * that others may enter is tightened to 0700.  Refuses it when it lies
 * where PostgreSQL manages files through a symbolic link changed since the
 * setting was made; warns, once per process, when it lies elsewhere inside
 * the data directory.
 */
void
protech_backup_prepare_directory(const char *directory)
{
	static bool warned_in_data_directory = false;
	struct stat st;

	protech_backup_check_directory_location(directory);

	if (!warned_in_data_directory &&
		protech_backup_in_data_directory(directory))
	{
		ereport(WARNING,
				(errmsg("protech_backup: backup directory \"%s\" is inside the data directory",
						directory),
				 errdetail("Base backups and copies of the data directory will contain every backup too."),
				 errhint("Set protech_backup.directory to a directory outside the data directory.")));
		warned_in_data_directory = true;
	}

	if (stat(directory, &st) == 0)
	{
		if (!S_ISDIR(st.st_mode))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("backup directory \"%s\" is not a directory",
							directory),
					 errhint("Set protech_backup.directory to a directory, or move the file away.")));
		if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		{
			if (chmod(directory, S_IRWXU) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not change the mode of backup directory \"%s\" to 0700: %m",
								directory),
						 errhint("Make the server's user its owner, with mode 0700.")));
			ereport(LOG,
					(errmsg("protech_backup: changed the mode of backup directory \"%s\" from %04o to 0700",
							directory, (unsigned int) (st.st_mode & 07777))));
		}
		return;
	}
	if (errno != ENOENT || mkdir(directory, S_IRWXU) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create backup directory \"%s\": %m",
						directory),
				 errhint("Create it, owned by the server's user with mode 0700, or set protech_backup.directory.")));
	if (chmod(directory, S_IRWXU) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not change the mode of backup directory \"%s\" to 0700: %m",
						directory)));
	{
		char	   *parent = pstrdup(directory);

		get_parent_directory(parent);
		protech_backup_fsync(parent, true, ERROR);
	}
	ereport(LOG,
			(errmsg("protech_backup: created backup directory \"%s\"",
					directory)));
}

/*
 * Read and check the manifest manifest_name in directory.  Fills *info and
 * returns true when it describes a complete backup: a well-formed manifest
 * (see protech_backup_parse_manifest) whose dump is present with the recorded size.
 * Returns false for anything else, never raising an error for a damaged
 * manifest.
 */
static bool
read_manifest(const char *directory, const char *manifest_name,
			  ProtechBackupInfo *info)
{
	ProtechBackupStorage storage;
	char		path[MAXPGPATH];
	struct stat st;

	if (!protech_backup_parse_manifest(directory, manifest_name, info, &storage))
		return false;
	protech_backup_build_path(path, directory, info->globals_file, "");
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		st.st_size != info->globals_size_bytes)
		return false;
	if (info->properties_file[0] != '\0')
	{
		protech_backup_build_path(path, directory, info->properties_file, "");
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
			st.st_size != info->properties_size_bytes)
			return false;
	}
	protech_backup_build_path(path, directory, info->file_name, "");
	return protech_backup_stored_size(path, &storage) == info->size_bytes;
}

/*
 * The backup that file_name (given to an SQL function) names in directory,
 * as its manifest describes it, even when its dump is damaged or gone (so
 * that verifying it can say so).  Anything else (empty, a path, a name this
 * extension does not give its backups, a ".partial", a file without a
 * valid manifest) raises invalid_parameter_value; the name is matched
 * against the backup name pattern before any path is made of it, so no
 * other file is ever opened.
 */
ProtechBackupInfo *
protech_backup_find_backup(const char *file_name, const char *directory)
{
	ProtechBackupInfo *info = palloc(sizeof(ProtechBackupInfo));
	ProtechBackupStorage storage;

	if (!protech_backup_is_backup_name(file_name) ||
		strlen(directory) + strlen(file_name) +
		strlen("/" PROTECH_BACKUP_MANIFEST_SUFFIX) >= MAXPGPATH ||
		!protech_backup_parse_manifest(directory,
						psprintf("%s%s", file_name, PROTECH_BACKUP_MANIFEST_SUFFIX),
						info, &storage))
		protech_backup_report_not_a_backup(file_name, directory, NULL);
	return info;
}

/*
 * Raise invalid_parameter_value: file_name, given to an SQL function, is
 * not a backup in directory; problem (or NULL) says what is wrong with the
 * files under its name (a symbolic link, say).
 */
void
protech_backup_report_not_a_backup(const char *file_name,
								   const char *directory, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" is not a backup", file_name),
			 problem ?
			 errdetail("Reading it: %s.", problem) :
			 errdetail("A backup is named by the file_name column of protech_backup_list(), and has a manifest in \"%s\".",
					   directory),
			 errhint("Give a file_name from protech_backup_list().")));
}

static int
compare_newest_first(const ListCell *a, const ListCell *b)
{
	const ProtechBackupInfo *x = lfirst(a);
	const ProtechBackupInfo *y = lfirst(b);

	if (x->started_at != y->started_at)
		return x->started_at > y->started_at ? -1 : 1;
	return -strcmp(x->file_name, y->file_name);
}

/*
 * Whether name, an entry of the backup directory, is one of this
 * extension's files and ends with suffix.
 */
static bool
is_own_file_with_suffix(const char *name, const char *suffix)
{
	size_t		len = strlen(name);
	size_t		suffix_len = strlen(suffix);

	return len > suffix_len &&
		strcmp(name + len - suffix_len, suffix) == 0 &&
		strncmp(name, PROTECH_BACKUP_PREFIX, strlen(PROTECH_BACKUP_PREFIX)) == 0;
}

/*
 * The complete backup whose manifest is manifest_name in directory,
 * appended to list (when it is one).
 */
static List *
append_backup(List *list, const char *directory, const char *manifest_name)
{
	ProtechBackupInfo info;

	if (read_manifest(directory, manifest_name, &info))
	{
		ProtechBackupInfo *copy = palloc(sizeof(ProtechBackupInfo));

		memcpy(copy, &info, sizeof(info));
		list = lappend(list, copy);
	}
	return list;
}

/*
 * Read directory once: remove the ".partial" files and folders a crashed
 * backup left behind when remove_partials (see remove_stale_partial for
 * when that is safe), and return every complete backup when list (NIL
 * otherwise), newest first.  A directory that does not exist yet holds
 * neither.
 */
static List *
scan_directory(const char *directory, bool remove_partials, bool list)
{
	List	   *result = NIL;
	DIR		   *dir;
	struct dirent *de;

	dir = AllocateDir(directory);
	if (dir == NULL && errno == ENOENT)
		return NIL;
	while ((de = ReadDir(dir, directory)) != NULL)
	{
		if (remove_partials &&
			is_own_file_with_suffix(de->d_name, PROTECH_BACKUP_PARTIAL_SUFFIX))
			remove_stale_partial(directory, de->d_name);
		else if (list &&
				 is_own_file_with_suffix(de->d_name, PROTECH_BACKUP_MANIFEST_SUFFIX))
			result = append_backup(result, directory, de->d_name);
	}
	FreeDir(dir);
	list_sort(result, compare_newest_first);
	return result;
}

/*
 * Every complete backup in directory, newest first.  A directory that does
 * not exist yet holds no backups.
 */
List *
protech_backup_list_backups(const char *directory)
{
	return scan_directory(directory, false, true);
}

/*
 * Remove the ".partial" files and folders a crashed backup left behind in
 * directory (see remove_stale_partial for when that is safe).
 */
void
protech_backup_remove_stale_partials(const char *directory)
{
	(void) scan_directory(directory, true, false);
}

/*
 * The start of a backup run, holding the backup slot and the directory's
 * lock file: remove the partial files a crash left and list the complete
 * backups, newest first, in one reading of the directory.  The run works
 * from that listing to its end (nothing else adds or removes a backup
 * while it holds the lock file), reading manifests again where a
 * verification recorded meanwhile must be seen (see
 * protech_backup_reread_backups).
 */
List *
protech_backup_scan_directory(const char *directory)
{
	return scan_directory(directory, true, true);
}

/*
 * The backups of list (ProtechBackupInfo, as listed earlier in this run)
 * as their manifests in directory say now, newest first, without listing
 * the directory again: a verification may have recorded its outcome in a
 * manifest since (a verification of this server writes while a run holds
 * the lock file, see protech_backup_begin_manifest_update), and a backup
 * no longer complete is left out, as a new listing would.
 */
List *
protech_backup_reread_backups(const char *directory, List *list)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, list)
	{
		ProtechBackupInfo *info = lfirst(lc);

		result = append_backup(result, directory,
							   psprintf("%s%s", info->file_name,
										PROTECH_BACKUP_MANIFEST_SUFFIX));
	}
	list_sort(result, compare_newest_first);
	return result;
}
