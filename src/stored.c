/*-------------------------------------------------------------------------
 *
 * stored.c
 *		A backup as stored on disk, a file or (directory format) a folder:
 *		its SHA-256, reading it back to check it against its manifest,
 *		renaming a folder durably, and removing it.
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
 * Everything is read through one fixed-size buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cryptohash.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "protech_backup.h"

/* bytes read at a time */
#define STORED_READ_SIZE (256 * 1024)

/*
 * A new SHA-256 computation.
 */
pg_cryptohash_ctx *
protech_backup_sha256_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize SHA-256 hash");
	return ctx;
}

/*
 * Add len bytes to a SHA-256 computation.
 */
void
protech_backup_sha256_update(pg_cryptohash_ctx *ctx, const char *data,
							 size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not update SHA-256 hash: %s",
			 pg_cryptohash_error(ctx));
}

/*
 * Finish a SHA-256 computation into hex (PG_SHA256_DIGEST_STRING_LENGTH
 * bytes, lowercase, NUL-terminated) and free it.
 */
void
protech_backup_sha256_end(pg_cryptohash_ctx *ctx, char *hex)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not finish SHA-256 hash: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_STRING_LENGTH - 1] = '\0';
}

/*
 * Output sink of a decompression whose output only needs to be produced.
 */
static void
discard_output(const char *data, size_t len, void *arg)
{
}

/*
 * Read the file at path to its end: its size into *size and its SHA-256
 * into sha256 (hex), fsyncing it first when sync is set, and decompressing
 * it fully with method unless that is PROTECH_BACKUP_METHOD_NONE.  Returns
 * false with *problem set (errno kept for file access errors) when it
 * cannot be read or does not decompress.
 */
static bool
read_stored_file(const char *path, bool sync, ProtechBackupMethod method,
				 char *buf, int64 *size, char *sha256, char **problem)
{
	int			fd = protech_backup_open_nofollow(path, sync ? O_RDWR : O_RDONLY,
												  0, problem);
	pg_cryptohash_ctx *hash;
	ProtechBackupCodec *codec = NULL;
	ssize_t		n;
	int			save_errno;

	if (fd < 0)
		return false;
	if (sync && pg_fsync(fd) != 0)
	{
		save_errno = errno;
		*problem = psprintf("could not fsync file \"%s\": %m", path);
		CloseTransientFile(fd);
		errno = save_errno;
		return false;
	}

	hash = protech_backup_sha256_begin();
	if (method != PROTECH_BACKUP_METHOD_NONE)
		codec = protech_backup_codec_begin(method, 0, false, discard_output, NULL);
	*size = 0;
	while ((n = read(fd, buf, STORED_READ_SIZE)) != 0)
	{
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			save_errno = errno;
			*problem = psprintf("could not read file \"%s\": %m", path);
			CloseTransientFile(fd);
			errno = save_errno;
			return false;
		}
		protech_backup_check_for_interrupts();
		protech_backup_sha256_update(hash, buf, n);
		*size += n;
		if (codec && !protech_backup_codec_feed(codec, buf, n))
			break;			/* codec_end reports why */
	}
	CloseTransientFile(fd);
	protech_backup_sha256_end(hash, sha256);
	if (codec && !protech_backup_codec_end(codec))
	{
		*problem = psprintf("file \"%s\": %s", path,
							protech_backup_codec_error(codec));
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
	char	   *buf = palloc(STORED_READ_SIZE);
	pg_cryptohash_ctx *listing = protech_backup_sha256_begin();
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
							  buf, &file_size, file_sha256, problem))
		{
			pgfnames_cleanup(names);
			return false;
		}
		*size_bytes += file_size;
		line = psprintf("%s  %s\n", file_sha256, names[i]);
		protech_backup_sha256_update(listing, line, strlen(line));
		pfree(line);
	}
	pgfnames_cleanup(names);
	pfree(buf);
	if (sync && !protech_backup_fsync(path, true, LOG))
	{
		*problem = psprintf("could not fsync folder \"%s\": %m", path);
		return false;
	}
	protech_backup_sha256_end(listing, sha256);
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
 * this extension or pg_dump compressed fully, and recompute the size and
 * SHA-256 of the bytes as stored; the same for its globals file.  Returns
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
	char	   *buf = palloc(STORED_READ_SIZE);
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
							  storage.compressor == PROTECH_BACKUP_COMPRESSOR_STREAM ?
							  storage.method : PROTECH_BACKUP_METHOD_NONE,
							  buf, &size, sha256, problem);
	ok = ok && matches_manifest(path, size, sha256, info->size_bytes,
								info->sha256, problem);
	ok = ok && read_stored_file(globals, false, PROTECH_BACKUP_METHOD_NONE,
								buf, &size, sha256, problem);
	ok = ok && matches_manifest(globals, size, sha256,
								info->globals_size_bytes, info->globals_sha256,
								problem);
	pfree(buf);
	return ok;
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
