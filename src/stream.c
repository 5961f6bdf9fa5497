/*-------------------------------------------------------------------------
 *
 * stream.c
 *		The stream pipeline: small stages, each doing one thing to the bytes
 *		that flow through it and handing them to the next, assembled by the
 *		caller into a chain, in the manner of PostgreSQL's bbstreamer and
 *		basebackup_sink and of pgBackRest's IoFilterGroup.  Built on codec.c
 *		(gzip and zstd), slot.c (progress) and child.c (the interrupt
 *		check).
 *
 * The stages:
 *
 *	hash      counts the bytes and computes their SHA-256, then passes them on
 *	gzip/zstd compresses or decompresses (codec.c), passing the output on;
 *	          a decompression error is recorded, later input ignored
 *	progress  publishes the bytes seen so far as the running backup's
 *	file      writes to a new file, starting writeback every
 *	          STREAM_FLUSH_AFTER bytes, fsyncs and closes it at the end
 *
 * A stage whose next is NULL drops what it passes on (so "decompress to
 * nowhere" is a codec stage at the end of a chain).  The sources: a file
 * read to its end (protech_backup_stream_file_source) and a child's
 * standard output (protech_backup_stream_sink, the output callback of the
 * child runner).  A stage may also live in a module of its own
 * (protech_backup_stream_new_stage: encrypt.c's age stage).  A consumer
 * that pulls at its own pace (a restore feeding psql) reads through
 * protech_backup_stream_reader (of a file) or _reader_of (of another
 * source: age decrypting, see encrypt.c) instead, which
 * decompresses one codec buffer per call, so that memory stays bounded: a
 * push chain cannot pause in the middle of a piece of input.  A backup of a plain dump is
 *
 *	pg_dump's output -> [zstd] -> hash -> progress -> file
 *
 * and reading it back against its manifest is
 *
 *	file source -> hash -> [zstd decompress]
 *
 * so that "the size and SHA-256 of the bytes as stored" is computed by one
 * stage, wherever the bytes come from.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "child.h"
#include "codec.h"
#include "durable.h"
#include "slot.h"
#include "stream.h"

/* bytes a file source reads at a time */
#define STREAM_READ_SIZE (256 * 1024)

/*
 * Every this many bytes written, a file stage asks the kernel to start
 * writing them back (as backend_flush_after does for the server's own
 * writes), so that the fsync that makes a backup durable finds little left
 * to write instead of the whole dump: without it, that fsync made an
 * uncompressed backup about 4% slower than a bare pg_dump, which does not
 * sync plain output.
 */
#define STREAM_FLUSH_AFTER (8 * 1024 * 1024)

typedef struct HashStage
{
	ProtechBackupStream stage;
	pg_cryptohash_ctx *sha256;
	int64		bytes;
	char		hex[PG_SHA256_DIGEST_STRING_LENGTH];
} HashStage;

typedef struct CodecStage
{
	ProtechBackupStream stage;
	ProtechBackupCodec *codec;
	bool		failed;
} CodecStage;

typedef struct ProgressStage
{
	ProtechBackupStream stage;
	uint64		bytes;
} ProgressStage;

typedef struct FileStage
{
	ProtechBackupStream stage;
	const char *path;
	int		   *fd;
	uint64		bytes;
	uint64		flushed;
} FileStage;

/*
 * A new stage of size bytes (a struct that starts with ProtechBackupStream)
 * with its write and finish functions, passing on to next.  Exported so
 * that a stage may live in a module of its own (encrypt.c).
 */
void *
protech_backup_stream_new_stage(size_t size,
								void (*write) (ProtechBackupStream *, const char *, size_t),
								void (*finish) (ProtechBackupStream *),
								ProtechBackupStream *next)
{
	ProtechBackupStream *stage = palloc0(size);

	stage->write = write;
	stage->finish = finish;
	stage->next = next;
	return stage;
}

/*
 * Hand data to stage (drop it when stage is NULL).
 */
void
protech_backup_stream_write(ProtechBackupStream *stage, const char *data,
							size_t len)
{
	if (stage != NULL && len > 0)
		stage->write(stage, data, len);
}

/*
 * End the stream at stage: every stage from there on flushes what it holds
 * and finishes, in order.
 */
void
protech_backup_stream_finish(ProtechBackupStream *stage)
{
	if (stage != NULL)
		stage->finish(stage);
}

/*
 * Output callback of the child runner (and of anything else that produces
 * bytes by callback) that feeds the chain starting at arg.
 */
void
protech_backup_stream_sink(const char *data, size_t len, void *arg)
{
	protech_backup_stream_write((ProtechBackupStream *) arg, data, len);
}

/*
 * A new SHA-256 computation.
 */
static pg_cryptohash_ctx *
sha256_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize SHA-256 hash");
	return ctx;
}

/*
 * Add len bytes to a SHA-256 computation.
 */
static void
sha256_update(pg_cryptohash_ctx *ctx, const char *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not update SHA-256 hash: %s",
			 pg_cryptohash_error(ctx));
}

/*
 * Finish a SHA-256 computation into hex (PG_SHA256_DIGEST_STRING_LENGTH
 * bytes, lowercase, NUL-terminated) and free it.
 */
static void
sha256_end(pg_cryptohash_ctx *ctx, char *hex)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not finish SHA-256 hash: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_STRING_LENGTH - 1] = '\0';
}

static void
hash_write(ProtechBackupStream *stage, const char *data, size_t len)
{
	HashStage  *hash = (HashStage *) stage;

	sha256_update(hash->sha256, data, len);
	hash->bytes += len;
	protech_backup_stream_write(stage->next, data, len);
}

static void
hash_finish(ProtechBackupStream *stage)
{
	HashStage  *hash = (HashStage *) stage;

	sha256_end(hash->sha256, hash->hex);
	protech_backup_stream_finish(stage->next);
}

/*
 * A stage that counts and hashes what flows through it, then passes it to
 * next.  protech_backup_stream_hash_result() gives the outcome once the
 * stream is finished.
 */
ProtechBackupStream *
protech_backup_stream_hash(ProtechBackupStream *next)
{
	HashStage  *hash = protech_backup_stream_new_stage(sizeof(HashStage), hash_write, hash_finish,
								 next);

	hash->sha256 = sha256_begin();
	return &hash->stage;
}

/*
 * The size and the SHA-256 (hex) of what a finished hash stage saw.
 */
void
protech_backup_stream_hash_result(ProtechBackupStream *stage, int64 *size,
								  char *sha256)
{
	HashStage  *hash = (HashStage *) stage;

	*size = hash->bytes;
	strlcpy(sha256, hash->hex, PG_SHA256_DIGEST_STRING_LENGTH);
}

/*
 * The codec's output callback: pass it on.
 */
static void
codec_output(const char *data, size_t len, void *arg)
{
	protech_backup_stream_write((ProtechBackupStream *) arg, data, len);
}

static void
codec_write(ProtechBackupStream *stage, const char *data, size_t len)
{
	CodecStage *codec = (CodecStage *) stage;

	if (!codec->failed && !protech_backup_codec_feed(codec->codec, data, len))
		codec->failed = true;
}

static void
codec_finish(ProtechBackupStream *stage)
{
	CodecStage *codec = (CodecStage *) stage;

	/* ends the stream whatever happened, so the library's memory is freed */
	if (!protech_backup_codec_end(codec->codec))
		codec->failed = true;
	protech_backup_stream_finish(stage->next);
}

/*
 * A stage that compresses (compress set, at level) or decompresses with
 * method what flows through it, passing its output to next.  A failure
 * is recorded, and later input ignored: protech_backup_stream_codec_error()
 * says what failed.
 */
ProtechBackupStream *
protech_backup_stream_codec(ProtechBackupMethod method, int level,
							bool compress, ProtechBackupStream *next)
{
	CodecStage *codec = protech_backup_stream_new_stage(sizeof(CodecStage), codec_write,
								  codec_finish, next);

	codec->codec = protech_backup_codec_begin(method, level, compress,
											  codec_output, next);
	return &codec->stage;
}

/*
 * Why a codec stage failed, or NULL when it did not (so far).
 */
const char *
protech_backup_stream_codec_error(ProtechBackupStream *stage)
{
	CodecStage *codec = (CodecStage *) stage;

	return codec->failed ? protech_backup_codec_error(codec->codec) : NULL;
}

static void
progress_write(ProtechBackupStream *stage, const char *data, size_t len)
{
	ProgressStage *progress = (ProgressStage *) stage;

	protech_backup_stream_write(stage->next, data, len);
	progress->bytes += len;
	protech_backup_report_progress(progress->bytes);
}

static void
progress_finish(ProtechBackupStream *stage)
{
	protech_backup_stream_finish(stage->next);
}

/*
 * A stage that publishes how many bytes passed through it as the progress
 * of the running backup (slot.c), after passing them to next.
 */
ProtechBackupStream *
protech_backup_stream_progress(ProtechBackupStream *next)
{
	ProgressStage *progress = protech_backup_stream_new_stage(sizeof(ProgressStage), progress_write,
										progress_finish, next);

	return &progress->stage;
}

static void
file_write(ProtechBackupStream *stage, const char *data, size_t len)
{
	FileStage  *file = (FileStage *) stage;

	file->bytes += len;
	while (len > 0)
	{
		ssize_t		written;

		errno = 0;
		written = write(*file->fd, data, len);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
		{
			/* a short write without errno means the disk is full */
			if (errno == 0)
				errno = ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write to file \"%s\": %m", file->path)));
		}
		data += written;
		len -= written;
	}
	if (file->bytes - file->flushed >= STREAM_FLUSH_AFTER)
	{
		pg_flush_data(*file->fd, file->flushed, file->bytes - file->flushed);
		file->flushed = file->bytes;
	}
}

static void
file_finish(ProtechBackupStream *stage)
{
	FileStage  *file = (FileStage *) stage;

	if (pg_fsync(*file->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", file->path)));
	if (close(*file->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", file->path)));
	*file->fd = -1;
}

/*
 * The last stage of a chain that stores what flows into it: creates the
 * file path (which must not exist) with mode 0600 whatever the umask, and
 * fsyncs and closes it when the stream finishes.  *fd holds the open file
 * meanwhile (-1 once closed), so that the caller's error cleanup can close
 * it.
 */
ProtechBackupStream *
protech_backup_stream_file(const char *path, int *fd)
{
	FileStage  *file = protech_backup_stream_new_stage(sizeof(FileStage), file_write, file_finish,
								 NULL);

	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | PG_BINARY,
			   S_IRUSR | S_IWUSR);
	if (*fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	if (fchmod(*fd, S_IRUSR | S_IWUSR) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not change the mode of file \"%s\" to 0600: %m",
						path)));
	file->path = path;
	file->fd = fd;
	return &file->stage;
}

/*
 * Read up to STREAM_READ_SIZE bytes of fd into buf, retrying on EINTR, with
 * an interrupt check: the one read loop of the pipeline.  Returns what
 * read() returns.
 */
static ssize_t
read_chunk(int fd, char *buf)
{
	ssize_t		n;

	do
	{
		protech_backup_check_for_interrupts();
		n = read(fd, buf, STREAM_READ_SIZE);
	} while (n < 0 && errno == EINTR);
	return n;
}

/*
 * The source of a chain that reads the file at path to its end into stage,
 * fsyncing it first when sync is set, and finishes the stream.  The file is
 * opened without following a symbolic link, and must be a regular file.
 * Returns false with *problem set (errno kept) when the file cannot be
 * opened, synced or read; the stream is not finished then.
 */
bool
protech_backup_stream_file_source(const char *path, bool sync,
								  ProtechBackupStream *stage, char **problem)
{
	int			fd = protech_backup_open_nofollow(path, sync ? O_RDWR : O_RDONLY,
												  0, problem);
	char	   *buf;
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
	buf = palloc(STREAM_READ_SIZE);
	while ((n = read_chunk(fd, buf)) != 0)
	{
		if (n < 0)
		{
			save_errno = errno;
			*problem = psprintf("could not read file \"%s\": %m", path);
			CloseTransientFile(fd);
			pfree(buf);
			errno = save_errno;
			return false;
		}
		protech_backup_stream_write(stage, buf, n);
	}
	CloseTransientFile(fd);
	pfree(buf);
	protech_backup_stream_finish(stage);
	return true;
}

/*
 * The pull side of the pipeline, for a consumer that must take the bytes
 * at its own pace (the standard input of psql or pg_restore, see
 * restore.c): a file, or the bytes another source gives (the output of
 * age decrypting a file, see encrypt.c), decompressed one output buffer of
 * the codec at a time, so that memory use stays bounded whatever the
 * compression ratio; passed on as read when nothing is to be
 * decompressed.
 */
struct ProtechBackupStreamReader
{
	const char *path;
	int			fd;				/* the file, or -1 when raw reads */
	ProtechBackupRead raw;		/* or NULL when fd */
	void		(*raw_close) (void *arg);
	void	   *raw_arg;
	ProtechBackupCodec *codec;	/* NULL: nothing to decompress */
	char	   *buf;			/* compressed bytes read */
	bool		need_input;		/* the codec has consumed buf */
	StringInfo	out;			/* where the codec's output goes now */
};

/*
 * The codec's output callback of a reader: into the piece being produced.
 */
static void
reader_output(const char *data, size_t len, void *arg)
{
	ProtechBackupStreamReader *reader = (ProtechBackupStreamReader *) arg;

	appendBinaryStringInfo(reader->out, data, len);
}

/*
 * A reader named path in messages, decompressing with method, that gets
 * its bytes from fd (when raw is NULL) or raw.
 */
static ProtechBackupStreamReader *
new_reader(const char *path, int fd, ProtechBackupRead raw,
		   void (*raw_close) (void *arg), void *raw_arg,
		   ProtechBackupMethod method)
{
	ProtechBackupStreamReader *reader = palloc0(sizeof(ProtechBackupStreamReader));

	reader->path = path;
	reader->fd = fd;
	reader->raw = raw;
	reader->raw_close = raw_close;
	reader->raw_arg = raw_arg;
	if (method != PROTECH_BACKUP_METHOD_NONE)
		reader->codec = protech_backup_codec_begin(method, 0, false,
												   reader_output, reader);
	reader->buf = palloc(STREAM_READ_SIZE);
	reader->need_input = true;
	return reader;
}

/*
 * Open the file at path (never through a symbolic link) to be read
 * decompressed with method; raises an error when it cannot be opened.
 */
ProtechBackupStreamReader *
protech_backup_stream_reader(const char *path, ProtechBackupMethod method)
{
	return new_reader(path,
					  protech_backup_open_nofollow(path, O_RDONLY, 0, NULL),
					  NULL, NULL, NULL, method);
}

/*
 * A reader of what raw gives (named path in messages), decompressed with
 * method; closing it calls raw_close(raw_arg).
 */
ProtechBackupStreamReader *
protech_backup_stream_reader_of(const char *path, ProtechBackupRead raw,
								void (*raw_close) (void *arg), void *raw_arg,
								ProtechBackupMethod method)
{
	return new_reader(path, -1, raw, raw_close, raw_arg, method);
}

/*
 * Append the next piece of the decompressed file (at most one output
 * buffer of the codec) to buf; false at its end.  The input source of the
 * child runner (a ProtechBackupSource).  Raises data_corrupted when the
 * file does not decompress.
 */
bool
protech_backup_stream_read(StringInfo buf, void *arg)
{
	ProtechBackupStreamReader *reader = (ProtechBackupStreamReader *) arg;

	reader->out = buf;
	while (buf->len == 0)
	{
		int			ret;

		if (reader->need_input)
		{
			ssize_t		n = reader->raw ?
				reader->raw(reader->buf, STREAM_READ_SIZE, reader->raw_arg) :
				read_chunk(reader->fd, reader->buf);

			if (n < 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read file \"%s\": %m", reader->path)));
			if (n > 0 && reader->codec == NULL)
			{
				appendBinaryStringInfo(buf, reader->buf, n);
				continue;
			}
			if (n == 0)
			{
				if (reader->codec != NULL && !protech_backup_codec_end(reader->codec))
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("file \"%s\": %s", reader->path,
									protech_backup_codec_error(reader->codec))));
				return false;
			}
			protech_backup_codec_input(reader->codec, reader->buf, n);
			reader->need_input = false;
		}
		ret = protech_backup_codec_step(reader->codec);
		if (ret < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("file \"%s\": %s", reader->path,
							protech_backup_codec_error(reader->codec))));
		if (ret == 0)
			reader->need_input = true;
	}
	return true;
}

/*
 * Close a reader.
 */
void
protech_backup_stream_reader_close(ProtechBackupStreamReader *reader)
{
	if (reader->fd >= 0)
		CloseTransientFile(reader->fd);
	if (reader->raw_close)
		reader->raw_close(reader->raw_arg);
	pfree(reader->buf);
}
