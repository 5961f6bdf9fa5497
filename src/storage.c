/*-------------------------------------------------------------------------
 *
 * storage.c
 *		What a backup is stored as: the names of the formats, the parser of
 *		a compression ("none", "gzip:6", "zstd:3", as protech_backup.compression
 *		and manifests spell it), and the table of valid format and
 *		compression combinations with the file name suffix and the
 *		compressor of each.  A leaf module: the settings (settings.c), the
 *		manifests and the backup build on it.
 *
 * Who compresses depends on the combination:
 *
 *	format     compression  compressor           stored as
 *	plain      none         -                    .sql
 *	plain      gzip, zstd   this extension       .sql.gz, .sql.zst
 *	custom     none         - (pg_dump -Z0)      .dump
 *	custom     gzip         pg_dump -Z level     .dump
 *	custom     zstd         this extension       .dump.zst (of a -Z0 archive)
 *	directory  none         - (pg_dump -Z0)      .dir (a folder)
 *	directory  gzip         pg_dump -Z level     .dir (a folder)
 *
 * A custom archive keeps pg_dump's own gzip so that pg_restore reads the
 * file directly (selective and parallel restore); zstd, which the pg_dump
 * of PostgreSQL 15 does not offer, is applied to the whole archive by the
 * process that streams it.  pg_dump writes a directory-format dump itself,
 * so only its own gzip applies there.
 *
 * An encrypted backup (see encrypt.c) has the name of its combination
 * followed by ".age" (".sql.zst.age"); a directory-format dump is never
 * encrypted, since pg_restore could not read the folder.
 *
 * Check hooks see one setting at a time, so the combination is validated
 * when a backup starts (protech_backup_storage_in_force, settings.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/compression.h"
#include "common/hashfn.h"
#include "utils/guc.h"

#include "protech_backup.h"
#include "storage.h"

/* the level zlib uses when none is named (its Z_DEFAULT_COMPRESSION) */
#define GZIP_DEFAULT_LEVEL 6
#define ZSTD_MAX_LEVEL 19

const struct config_enum_entry protech_backup_format_options[] = {
	{"plain", PROTECH_BACKUP_FORMAT_PLAIN, false},
	{"custom", PROTECH_BACKUP_FORMAT_CUSTOM, false},
	{"directory", PROTECH_BACKUP_FORMAT_DIRECTORY, false},
	{NULL, 0, false}
};

static const char *const method_names[] = {"none", "gzip", "zstd"};

/*
 * Every valid combination of format and compression method.
 */
typedef struct StorageKind
{
	ProtechBackupFormat format;
	ProtechBackupMethod method;
	ProtechBackupCompressor compressor;
	const char *suffix;
} StorageKind;

static const StorageKind storage_kinds[] = {
	{PROTECH_BACKUP_FORMAT_PLAIN, PROTECH_BACKUP_METHOD_NONE, PROTECH_BACKUP_COMPRESSOR_NONE, ".sql"},
	{PROTECH_BACKUP_FORMAT_PLAIN, PROTECH_BACKUP_METHOD_GZIP, PROTECH_BACKUP_COMPRESSOR_STREAM, ".sql.gz"},
	{PROTECH_BACKUP_FORMAT_PLAIN, PROTECH_BACKUP_METHOD_ZSTD, PROTECH_BACKUP_COMPRESSOR_STREAM, ".sql.zst"},
	{PROTECH_BACKUP_FORMAT_CUSTOM, PROTECH_BACKUP_METHOD_NONE, PROTECH_BACKUP_COMPRESSOR_NONE, ".dump"},
	{PROTECH_BACKUP_FORMAT_CUSTOM, PROTECH_BACKUP_METHOD_GZIP, PROTECH_BACKUP_COMPRESSOR_PG_DUMP, ".dump"},
	{PROTECH_BACKUP_FORMAT_CUSTOM, PROTECH_BACKUP_METHOD_ZSTD, PROTECH_BACKUP_COMPRESSOR_STREAM, ".dump.zst"},
	{PROTECH_BACKUP_FORMAT_DIRECTORY, PROTECH_BACKUP_METHOD_NONE, PROTECH_BACKUP_COMPRESSOR_NONE, ".dir"},
	{PROTECH_BACKUP_FORMAT_DIRECTORY, PROTECH_BACKUP_METHOD_GZIP, PROTECH_BACKUP_COMPRESSOR_PG_DUMP, ".dir"},
};

/*
 * Parse a compression setting: "none", "gzip[:level]" or "zstd[:level]".
 * Returns true with *result set (level 0 for none), or false with *detail
 * set to a palloc'd sentence saying what is wrong.
 *
 * The method and the level are read by PostgreSQL's own parser of
 * compression specifications (common/compression.h), the one
 * pg_basebackup's --compress uses: this extension's "method:level" is
 * pg_basebackup's "method:detail" with a bare integer as the detail, so it
 * is split at the colon and the two halves handed over as they are.  What
 * this extension accepts is narrower than what that parser does, and is
 * checked around it so that the spellings and messages stay as they were:
 * no lz4 (neither pg_dump 15 nor this extension writes it), a level of one
 * or two digits (the parser would also take "+5" or "level=5"), from 1
 * (the parser takes zstd's negative levels) to 9 for gzip and 19 for zstd
 * (past that, zstd needs far more memory to decompress).
 */
bool
protech_backup_parse_compression(const char *value,
								 ProtechBackupCompression *result,
								 char **detail)
{
	const char *colon = strchr(value, ':');
	char	   *name = pnstrdup(value, colon ? colon - value : strlen(value));
	char	   *level = colon ? pstrdup(colon + 1) : NULL;
	pg_compress_algorithm algorithm;
	pg_compress_specification spec;
	int			max_level;

	if (!parse_compress_algorithm(name, &algorithm) ||
		algorithm == PG_COMPRESSION_LZ4)
	{
		*detail = psprintf("\"%s\" is not a compression method.", name);
		return false;
	}
	result->method = algorithm == PG_COMPRESSION_GZIP ? PROTECH_BACKUP_METHOD_GZIP :
		algorithm == PG_COMPRESSION_ZSTD ? PROTECH_BACKUP_METHOD_ZSTD :
		PROTECH_BACKUP_METHOD_NONE;
	result->level = 0;
	if (result->method == PROTECH_BACKUP_METHOD_NONE)
	{
		if (level == NULL)
			return true;
		*detail = pstrdup("Compression \"none\" takes no level.");
		return false;
	}

	max_level = result->method == PROTECH_BACKUP_METHOD_GZIP ? 9 : ZSTD_MAX_LEVEL;
	if (level == NULL || (level[0] != '\0' && strlen(level) <= 2 &&
						  strspn(level, "0123456789") == strlen(level)))
	{
		parse_compress_specification(algorithm, level, &spec);
		if (validate_compress_specification(&spec) == NULL &&
			(level == NULL || (spec.level >= 1 && spec.level <= max_level)))
		{
			/* zlib's default level, which its Z_DEFAULT_COMPRESSION stands for */
			result->level = level == NULL &&
				result->method == PROTECH_BACKUP_METHOD_GZIP ?
				GZIP_DEFAULT_LEVEL : spec.level;
			return true;
		}
	}
	*detail = psprintf("The level of %s must be an integer from 1 to %d.",
					   method_names[result->method], max_level);
	return false;
}

/*
 * The name a compression has in manifests and in protech_backup_list():
 * "none", or the method and its level, such as "zstd:3".
 */
char *
protech_backup_compression_name(ProtechBackupMethod method, int level)
{
	if (method == PROTECH_BACKUP_METHOD_NONE)
		return pstrdup(method_names[method]);
	return psprintf("%s:%d", method_names[method], level);
}

/*
 * Fill *storage for a format and compression, or return false when the
 * combination is not one of storage_kinds.
 */
bool
protech_backup_storage_for(ProtechBackupFormat format,
						   const ProtechBackupCompression *compression,
						   ProtechBackupStorage *storage)
{
	for (int i = 0; i < lengthof(storage_kinds); i++)
		if (storage_kinds[i].format == format &&
			storage_kinds[i].method == compression->method)
		{
			storage->format = format;
			storage->method = compression->method;
			storage->level = compression->level;
			storage->compressor = storage_kinds[i].compressor;
			storage->suffix = storage_kinds[i].suffix;
			return true;
		}
	return false;
}

/*
 * How an existing backup is stored, from the format and compression its
 * manifest records.  Returns false when they are not a valid combination.
 */
bool
protech_backup_storage_of(const char *format, const char *compression,
						  ProtechBackupStorage *storage)
{
	ProtechBackupCompression parsed;
	char	   *detail;

	if (!protech_backup_parse_compression(compression, &parsed, &detail))
		return false;
	for (int f = 0; protech_backup_format_options[f].name; f++)
		if (strcmp(format, protech_backup_format_options[f].name) == 0)
			return protech_backup_storage_for(protech_backup_format_options[f].val,
											  &parsed, storage);
	return false;
}

/*
 * Whether suffix is the file name suffix of some valid combination.
 */
bool
protech_backup_is_backup_suffix(const char *suffix)
{
	for (int i = 0; i < lengthof(storage_kinds); i++)
		if (strcmp(suffix, storage_kinds[i].suffix) == 0)
			return true;
	return false;
}

/*
 * Whether name ends in PROTECH_BACKUP_AGE_SUFFIX: the name of an
 * encrypted backup, or of an encrypted extra file of one.
 */
bool
protech_backup_is_encrypted_name(const char *name)
{
	size_t		len = strlen(name);
	size_t		age_len = strlen(PROTECH_BACKUP_AGE_SUFFIX);

	return len > age_len &&
		strcmp(name + len - age_len, PROTECH_BACKUP_AGE_SUFFIX) == 0;
}

/*
 * Whether p is the rest of a backup file name after its prefix and
 * database tag: YYYYMMDD_HHMMSS[_N] followed by the suffix of one of the
 * valid format and compression combinations (above), and by ".age" when
 * encrypted (a file, not a folder).
 */
static bool
is_stamp_and_suffix(const char *p)
{
	for (int i = 0; i < 15; i++, p++)
	{
		if (i == 8 ? *p != '_' : !isdigit((unsigned char) *p))
			return false;
	}
	if (*p == '_' && isdigit((unsigned char) p[1]))
	{
		p++;
		while (isdigit((unsigned char) *p))
			p++;
	}
	if (protech_backup_is_encrypted_name(p))
	{
		size_t		clear_len = strlen(p) - strlen(PROTECH_BACKUP_AGE_SUFFIX);

		for (int i = 0; i < lengthof(storage_kinds); i++)
			if (storage_kinds[i].format != PROTECH_BACKUP_FORMAT_DIRECTORY &&
				strlen(storage_kinds[i].suffix) == clear_len &&
				strncmp(p, storage_kinds[i].suffix, clear_len) == 0)
				return true;
		return false;
	}
	return protech_backup_is_backup_suffix(p);
}

/*
 * Whether c may appear in a database tag (protech_backup_database_tag).
 */
static bool
is_tag_char(char c)
{
	return isalnum((unsigned char) c) || c == '-' || c == '%' || c == '+';
}

/*
 * Whether name is a backup file name this extension writes:
 * protech_backup_[TAG_]YYYYMMDD_HHMMSS[_N] followed by the suffix of one of
 * the valid format and compression combinations (above), where TAG, made
 * of the characters of protech_backup_database_tag(), is there when
 * protech_backup.databases is set.  A name cannot be read both ways: a
 * TAG holds no "_", so with one the time stamp would start 15 characters
 * later.
 */
bool
protech_backup_is_backup_name(const char *name)
{
	const char *p = name;
	size_t		prefix_len = strlen(PROTECH_BACKUP_PREFIX);

	if (strncmp(p, PROTECH_BACKUP_PREFIX, prefix_len) != 0)
		return false;
	p += prefix_len;
	if (is_stamp_and_suffix(p))
		return true;
	if (!is_tag_char(*p))
		return false;
	while (is_tag_char(*p))
		p++;
	return *p == '_' && is_stamp_and_suffix(p + 1);
}

/*
 * The tag of database in the names of its backups when
 * protech_backup.databases is set, into tag (PROTECH_BACKUP_TAG_SIZE
 * bytes): ASCII letters and digits as they are, "_" as "-", every other
 * byte (a space, a quote, "/", ".", "-", each byte of a non-ASCII
 * character) as "%" and its two hexadecimal digits, as in a URL ("my_app"
 * is "my-app", "Sales 2024" is "Sales%202024", "café" is "caf%C3%A9").
 * Names that make a tag longer than PROTECH_BACKUP_TAG_SIZE - 1 keep its
 * first characters, cut before a "%", then "+" and 8 hexadecimal digits of
 * a hash of the whole name, so that two databases never share a tag.
 */
void
protech_backup_database_tag(const char *database, char *tag)
{
	const int	max_len = PROTECH_BACKUP_TAG_SIZE - 1;
	const int	cut_len = max_len - 9;
	int			len = 0;
	int			cut = 0;

	tag[0] = '\0';
	for (const unsigned char *p = (const unsigned char *) database; *p; p++)
	{
		char		piece[4];

		if (isalnum(*p) && *p < 128)
			snprintf(piece, sizeof(piece), "%c", *p);
		else if (*p == '_')
			strcpy(piece, "-");
		else
			snprintf(piece, sizeof(piece), "%%%02X", *p);
		if (len + strlen(piece) > max_len)
		{
			snprintf(tag + cut, PROTECH_BACKUP_TAG_SIZE - cut, "+%08x",
					 hash_bytes((const unsigned char *) database,
								strlen(database)));
			return;
		}
		strcpy(tag + len, piece);
		len += strlen(piece);
		if (len <= cut_len)
			cut = len;
	}
}

