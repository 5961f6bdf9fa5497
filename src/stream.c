/*-------------------------------------------------------------------------
 *
 * stream.c
 *		The SHA-256 of a stream of bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/builtins.h"

#include "stream.h"

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
