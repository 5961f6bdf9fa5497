/*-------------------------------------------------------------------------
 *
 * codec.c
 *		gzip (zlib) and zstd (libzstd) streams, compressing or
 *		decompressing, chunk by chunk through one fixed-size output buffer
 *		(built on storage.c's method names alone; the gzip and zstd stages
 *		of stream.c wrap it):
 *		the backup compresses pg_dump's output with it in the same pass that
 *		hashes and writes it, the stored-backup check decompresses a backup
 *		fully with it, and a restore decompresses a backup into psql or
 *		pg_restore with it, one output buffer at a time.  Memory use does not
 *		depend on the data size.
 *
 * A gzip stream is one gzip member (RFC 1952, with its CRC-32); a zstd
 * stream is one zstd frame with its content checksum, so that both
 * decompressors detect damaged data on their own.  What the libraries
 * allocate is freed by codec_end, or, when an error interrupts the stream,
 * by a reset callback of the memory context the codec was created in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zlib.h>
#include <zstd.h>

#include "utils/memutils.h"

#include "codec.h"

/* size of the output buffer */
#define CODEC_BUFFER_SIZE (128 * 1024)

struct ProtechBackupCodec
{
	ProtechBackupMethod method;
	bool		compress;
	bool		finished;		/* decompression: the stream has ended */
	bool		library_state;	/* zs or zstd holds library memory */
	ProtechBackupSink output;
	void	   *output_arg;
	z_stream	zs;				/* gzip state, with its pending input */
	ZSTD_inBuffer zin;			/* zstd's pending input */
	ZSTD_CCtx  *cctx;
	ZSTD_DCtx  *dctx;
	char	   *error;
	MemoryContextCallback cleanup;
	char		buffer[CODEC_BUFFER_SIZE];
};

/*
 * Free what the compression library allocated, once.
 */
static void
free_library_state(void *arg)
{
	ProtechBackupCodec *codec = (ProtechBackupCodec *) arg;

	if (!codec->library_state)
		return;
	codec->library_state = false;
	if (codec->method == PROTECH_BACKUP_METHOD_GZIP)
	{
		if (codec->compress)
			deflateEnd(&codec->zs);
		else
			inflateEnd(&codec->zs);
	}
	else
	{
		ZSTD_freeCCtx(codec->cctx);
		ZSTD_freeDCtx(codec->dctx);
	}
}

/*
 * Record why the stream failed; returns -1 for a step to return.
 */
static int
codec_fail(ProtechBackupCodec *codec, const char *what, const char *why)
{
	codec->error = psprintf("%s %s: %s",
							codec->method == PROTECH_BACKUP_METHOD_GZIP ? "gzip" : "zstd",
							what, why ? why : "unknown error");
	return -1;
}

/*
 * Start a stream: compressing at level, or decompressing, with method
 * (gzip or zstd), handing every output chunk to output(data, len,
 * output_arg).  Raises an error only when the library cannot start.
 */
ProtechBackupCodec *
protech_backup_codec_begin(ProtechBackupMethod method, int level,
						   bool compress, ProtechBackupSink output,
						   void *output_arg)
{
	ProtechBackupCodec *codec = palloc0(sizeof(ProtechBackupCodec));
	bool		ok;

	Assert(method != PROTECH_BACKUP_METHOD_NONE);
	codec->method = method;
	codec->compress = compress;
	codec->output = output;
	codec->output_arg = output_arg;

	if (method == PROTECH_BACKUP_METHOD_GZIP)
		ok = (compress ?
			  deflateInit2(&codec->zs, level, Z_DEFLATED, 15 + 16, 8,
						   Z_DEFAULT_STRATEGY) :
			  inflateInit2(&codec->zs, 15 + 16)) == Z_OK;
	else if (compress)
	{
		codec->cctx = ZSTD_createCCtx();
		ok = codec->cctx != NULL &&
			!ZSTD_isError(ZSTD_CCtx_setParameter(codec->cctx,
												 ZSTD_c_compressionLevel,
												 level)) &&
			!ZSTD_isError(ZSTD_CCtx_setParameter(codec->cctx,
												 ZSTD_c_checksumFlag, 1));
		if (!ok)
			ZSTD_freeCCtx(codec->cctx);
	}
	else
	{
		codec->dctx = ZSTD_createDCtx();
		ok = codec->dctx != NULL;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not start %s %s",
						method == PROTECH_BACKUP_METHOD_GZIP ? "gzip" : "zstd",
						compress ? "compression" : "decompression")));

	codec->library_state = true;
	codec->cleanup.func = free_library_state;
	codec->cleanup.arg = codec;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &codec->cleanup);
	return codec;
}

/*
 * Give the stream its next input, which it reads in place: the previous
 * input must be consumed (the last protech_backup_codec_step returned 0).
 */
void
protech_backup_codec_input(ProtechBackupCodec *codec, const char *data,
						   size_t len)
{
	if (codec->method == PROTECH_BACKUP_METHOD_GZIP)
	{
		codec->zs.next_in = (Bytef *) data;
		codec->zs.avail_in = len;
	}
	else
	{
		codec->zin.src = data;
		codec->zin.size = len;
		codec->zin.pos = 0;
	}
}

/*
 * One run of the gzip library over the pending input (and, when finishing,
 * towards the end of the stream) into the output buffer, handing out what
 * it produced.  Returns 1 when there is more to do, 0 when the input is
 * consumed (or, finishing, the stream complete), -1 when the stream failed.
 */
static int
gzip_step(ProtechBackupCodec *codec, bool finish)
{
	z_stream   *zs = &codec->zs;
	int			ret;

	if (!codec->compress && codec->finished && zs->avail_in > 0)
		return codec_fail(codec, "data is damaged",
						  "there is data after the end of the stream");
	zs->next_out = (Bytef *) codec->buffer;
	zs->avail_out = CODEC_BUFFER_SIZE;
	if (codec->compress)
		ret = deflate(zs, finish ? Z_FINISH : Z_NO_FLUSH);
	else
		ret = inflate(zs, Z_NO_FLUSH);
	if (ret == Z_STREAM_END)
		codec->finished = true;
	else if (ret != Z_OK && ret != Z_BUF_ERROR)
		return codec_fail(codec,
						  codec->compress ? "compression failed" : "data is damaged",
						  zs->msg);
	if (zs->avail_out < CODEC_BUFFER_SIZE)
		codec->output(codec->buffer, CODEC_BUFFER_SIZE - zs->avail_out,
					  codec->output_arg);
	if (finish ? codec->finished : zs->avail_in == 0 && zs->avail_out > 0)
		return 0;
	return 1;
}

/*
 * The same for zstd.
 */
static int
zstd_step(ProtechBackupCodec *codec, bool finish)
{
	ZSTD_outBuffer out = {codec->buffer, CODEC_BUFFER_SIZE, 0};
	ZSTD_inBuffer *in = &codec->zin;
	size_t		ret;

	if (!codec->compress && codec->finished && in->pos < in->size)
		return codec_fail(codec, "data is damaged",
						  "there is data after the end of the frame");
	if (codec->compress)
		ret = ZSTD_compressStream2(codec->cctx, &out, in,
								   finish ? ZSTD_e_end : ZSTD_e_continue);
	else
		ret = ZSTD_decompressStream(codec->dctx, &out, in);
	if (ZSTD_isError(ret))
		return codec_fail(codec,
						  codec->compress ? "compression failed" : "data is damaged",
						  ZSTD_getErrorName(ret));
	if (out.pos > 0)
		codec->output(codec->buffer, out.pos, codec->output_arg);
	if (ret == 0 && (finish || !codec->compress))
		codec->finished = true;
	if (finish ? codec->finished : in->pos == in->size && out.pos < out.size)
		return 0;
	return 1;
}

/*
 * Process some of the input given by protech_backup_codec_input, handing
 * out at most one output buffer (so a caller that must not hold more than
 * that can pace the stream).  Returns 1 when it must be called again, 0 when
 * the input is consumed, -1 when it is not valid compressed data
 * (protech_backup_codec_error says why).
 */
int
protech_backup_codec_step(ProtechBackupCodec *codec)
{
	if (codec->method == PROTECH_BACKUP_METHOD_GZIP)
		return gzip_step(codec, false);
	return zstd_step(codec, false);
}

/*
 * Feed len bytes of input to the stream, all of it at once.  Returns false
 * when the input is not valid compressed data (protech_backup_codec_error
 * says why).
 */
bool
protech_backup_codec_feed(ProtechBackupCodec *codec, const char *data,
						  size_t len)
{
	int			ret;

	protech_backup_codec_input(codec, data, len);
	while ((ret = protech_backup_codec_step(codec)) > 0)
		;
	return ret == 0;
}

/*
 * End the stream: a compressor writes out the rest and the trailer; a
 * decompressor checks that no chunk failed and that the stream was
 * complete.  Frees the library's memory either way.  Returns false, with
 * the reason, when the stream failed.
 */
bool
protech_backup_codec_end(ProtechBackupCodec *codec)
{
	bool		ok;

	if (codec->compress)
	{
		int			ret;

		protech_backup_codec_input(codec, NULL, 0);
		while ((ret = codec->method == PROTECH_BACKUP_METHOD_GZIP ?
				gzip_step(codec, true) : zstd_step(codec, true)) > 0)
			;
		ok = ret == 0;
	}
	else
	{
		if (codec->error == NULL && !codec->finished)
			(void) codec_fail(codec, "data is damaged",
							  "it ends before the end of the compressed stream");
		ok = codec->error == NULL;
	}
	free_library_state(codec);
	return ok;
}

/*
 * Why the stream failed, after protech_backup_codec_feed or
 * protech_backup_codec_end returned false.
 */
const char *
protech_backup_codec_error(ProtechBackupCodec *codec)
{
	return codec->error;
}
