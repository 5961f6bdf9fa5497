/*-------------------------------------------------------------------------
 *
 * format.c
 *		What a backup is stored as: the settings protech_backup.format,
 *		protech_backup.compression, protech_backup.jobs and
 *		protech_backup.pg_dump_options, their parsing and check hooks, and
 *		the table of valid format and compression combinations with the file
 *		name suffix and the compressor of each.
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
 * Check hooks see one setting at a time, so the combination is validated
 * when a backup starts (protech_backup_storage_in_force).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "protech_backup.h"

/* level used when the setting names a method without one */
#define GZIP_DEFAULT_LEVEL 6
#define ZSTD_DEFAULT_LEVEL 3
#define ZSTD_MAX_LEVEL 19

#define COMPRESSION_HINT "Use none, gzip, gzip:1 to gzip:9, zstd or zstd:1 to zstd:19."
#define OPTIONS_HINT "Give each option with its value in one word, such as --exclude-table-data=audit_log or -Taudit_log."

/* settings */
int			protech_backup_format = PROTECH_BACKUP_FORMAT_PLAIN;
char	   *protech_backup_compression = NULL;
int			protech_backup_jobs = 1;
char	   *protech_backup_pg_dump_options = NULL;

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
 * pg_dump options that protech_backup.pg_dump_options may not contain, and
 * why.  short_name is '\0' for options without a one-letter form.
 */
typedef struct ForbiddenOption
{
	char		short_name;
	const char *long_name;
	const char *reason;
} ForbiddenOption;

static const ForbiddenOption forbidden_options[] = {
	{'f', "file", "The extension chooses where the dump is written."},
	{'F', "format", "Set protech_backup.format instead."},
	{'Z', "compress", "Set protech_backup.compression instead."},
	{'j', "jobs", "Set protech_backup.jobs instead."},
	{'d', "dbname", "Set protech_backup.database instead."},
	{'h', "host", "pg_dump always connects to this server over its Unix socket."},
	{'p', "port", "pg_dump always connects to this server over its Unix socket."},
	{'U', "username", "Set protech_backup.role instead."},
	{'w', "no-password", "pg_dump already runs with --no-password."},
	{'W', "password", "pg_dump runs without a terminal and must never prompt for a password."},
	{'\0', "lock-wait-timeout", "Set protech_backup.lock_wait_timeout instead."},
	{'V', "version", "It asks for pg_dump's version, not for a dump."},
	{'?', "help", "It asks for pg_dump's help, not for a dump."},
};

/* the short options of pg_dump 15 that take a value */
static const char short_options_with_value[] = "deEfFhjnNpStTUZ";

/*
 * Parse a compression setting: "none", "gzip[:level]" or "zstd[:level]".
 * Returns true with *method and *level set (level 0 for none), or false
 * with *detail set to a palloc'd sentence saying what is wrong.
 */
bool
protech_backup_parse_compression(const char *value, ProtechBackupMethod *method,
								 int *level, char **detail)
{
	const char *colon = strchr(value, ':');
	size_t		name_len = colon ? colon - value : strlen(value);
	int			max_level;
	int			m;

	*level = 0;
	for (m = 0; m < lengthof(method_names); m++)
		if (strlen(method_names[m]) == name_len &&
			strncmp(value, method_names[m], name_len) == 0)
			break;
	if (m == lengthof(method_names))
	{
		*detail = psprintf("\"%.*s\" is not a compression method.",
						   (int) name_len, value);
		return false;
	}
	*method = (ProtechBackupMethod) m;

	if (*method == PROTECH_BACKUP_METHOD_NONE)
	{
		if (colon == NULL)
			return true;
		*detail = pstrdup("Compression \"none\" takes no level.");
		return false;
	}

	max_level = *method == PROTECH_BACKUP_METHOD_GZIP ? 9 : ZSTD_MAX_LEVEL;
	if (colon == NULL)
	{
		*level = *method == PROTECH_BACKUP_METHOD_GZIP ?
			GZIP_DEFAULT_LEVEL : ZSTD_DEFAULT_LEVEL;
		return true;
	}
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
		colon[1] == '\0' || strlen(colon + 1) > 2 ||
		(*level = atoi(colon + 1)) < 1 || *level > max_level)
	{
		*detail = psprintf("The level of %s must be an integer from 1 to %d.",
						   method_names[*method], max_level);
		return false;
	}
	return true;
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
 * Check hook of protech_backup.compression.
 */
bool
protech_backup_check_compression(char **newval, void **extra, GucSource source)
{
	ProtechBackupMethod method;
	int			level;
	char	   *detail;

	if (protech_backup_parse_compression(*newval, &method, &level, &detail))
		return true;
	GUC_check_errdetail("%s", detail);
	GUC_check_errhint(COMPRESSION_HINT);
	return false;
}

/*
 * Split value into words the way a shell would, without any expansion:
 * words are separated by white space; single quotes keep everything up to
 * the next single quote; double quotes keep everything up to the next
 * unescaped double quote, a backslash there escaping only " and \; a
 * backslash outside quotes keeps the next character.  Returns true with
 * *words set to a List of palloc'd strings, or false with *detail set.
 */
static bool
split_words(const char *value, List **words, char **detail)
{
	const char *p = value;
	StringInfoData word;

	*words = NIL;
	initStringInfo(&word);
	for (;;)
	{
		bool		in_word = false;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			return true;
		resetStringInfo(&word);
		while (*p != '\0' && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		{
			in_word = true;
			if (*p == '\'')
			{
				const char *close = strchr(p + 1, '\'');

				if (close == NULL)
				{
					*detail = pstrdup("A single quote is not closed.");
					return false;
				}
				appendBinaryStringInfo(&word, p + 1, close - p - 1);
				p = close + 1;
			}
			else if (*p == '"')
			{
				for (p++; *p != '"'; p++)
				{
					if (*p == '\0')
					{
						*detail = pstrdup("A double quote is not closed.");
						return false;
					}
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
						p++;
					appendStringInfoChar(&word, *p);
				}
				p++;
			}
			else if (*p == '\\')
			{
				if (p[1] == '\0')
				{
					*detail = pstrdup("A backslash ends the value.");
					return false;
				}
				appendStringInfoChar(&word, p[1]);
				p += 2;
			}
			else
				appendStringInfoChar(&word, *p++);
		}
		if (in_word)
			*words = lappend(*words, pstrdup(word.data));
	}
}

/*
 * If the word (an option of pg_dump) is or may be read by pg_dump as one
 * of the forbidden options, return that option; else NULL.  A long option
 * is matched by its name before any "=", including the abbreviations that
 * getopt_long accepts; a group of short options ("-vx") letter by letter
 * up to the first letter that takes a value.
 */
static const ForbiddenOption *
forbidden_option(const char *word)
{
	if (word[1] == '-')
	{
		const char *name = word + 2;
		size_t		len = strcspn(name, "=");

		for (int i = 0; i < lengthof(forbidden_options); i++)
			if (strncmp(forbidden_options[i].long_name, name, len) == 0)
				return &forbidden_options[i];
		return NULL;
	}
	for (const char *p = word + 1; *p; p++)
	{
		for (int i = 0; i < lengthof(forbidden_options); i++)
			if (forbidden_options[i].short_name == *p)
				return &forbidden_options[i];
		if (strchr(short_options_with_value, *p))
			break;
	}
	return NULL;
}

/*
 * Parse protech_backup.pg_dump_options into the words to append to
 * pg_dump's command line.  Returns true with *words set (a List of
 * palloc'd strings, NIL for an empty setting), or false with *detail set
 * to a palloc'd sentence naming the offending word.
 */
bool
protech_backup_parse_pg_dump_options(const char *value, List **words,
									 char **detail)
{
	ListCell   *lc;

	if (!split_words(value, words, detail))
		return false;
	foreach(lc, *words)
	{
		const char *word = lfirst(lc);
		const ForbiddenOption *option;

		if (word[0] != '-' || word[1] == '\0' || strcmp(word, "--") == 0)
		{
			*detail = psprintf("\"%s\" is not a pg_dump option.", word);
			return false;
		}
		option = forbidden_option(word);
		if (option != NULL)
		{
			*detail = psprintf("pg_dump option \"%s\" (%s--%s) cannot be given here. %s",
							   word,
							   option->short_name ?
							   psprintf("-%c, ", option->short_name) : "",
							   option->long_name, option->reason);
			return false;
		}
	}
	return true;
}

/*
 * Check hook of protech_backup.pg_dump_options.
 */
bool
protech_backup_check_pg_dump_options(char **newval, void **extra,
									 GucSource source)
{
	List	   *words;
	char	   *detail;

	if (protech_backup_parse_pg_dump_options(*newval, &words, &detail))
		return true;
	GUC_check_errdetail("%s", detail);
	GUC_check_errhint(OPTIONS_HINT);
	return false;
}

/*
 * Fill *storage for a format and compression method, or return false when
 * the combination is not one of storage_kinds.
 */
static bool
find_storage_kind(ProtechBackupFormat format, ProtechBackupMethod method,
				  int level, ProtechBackupStorage *storage)
{
	for (int i = 0; i < lengthof(storage_kinds); i++)
		if (storage_kinds[i].format == format &&
			storage_kinds[i].method == method)
		{
			storage->format = format;
			storage->method = method;
			storage->level = level;
			storage->compressor = storage_kinds[i].compressor;
			storage->suffix = storage_kinds[i].suffix;
			return true;
		}
	return false;
}

/*
 * How the next backup is stored, from the settings in force.  Raises
 * invalid_parameter_value for a combination of settings that cannot work,
 * before anything is written.
 */
void
protech_backup_storage_in_force(ProtechBackupStorage *storage)
{
	const char *format_name =
		protech_backup_format_options[protech_backup_format].name;
	ProtechBackupMethod method;
	int			level;
	char	   *detail;

	if (!protech_backup_parse_compression(protech_backup_compression,
										  &method, &level, &detail))
		elog(ERROR, "invalid protech_backup.compression: %s", detail);
	if (!find_storage_kind(protech_backup_format, method, level, storage))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("protech_backup.compression \"%s\" cannot be used with protech_backup.format \"%s\"",
						protech_backup_compression, format_name),
				 errdetail("pg_dump writes a directory-format dump itself, and the pg_dump of PostgreSQL 15 compresses it only with gzip."),
				 errhint("Set protech_backup.compression to none or gzip, or protech_backup.format to plain or custom.")));
	if (protech_backup_jobs > 1 &&
		protech_backup_format != PROTECH_BACKUP_FORMAT_DIRECTORY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("protech_backup.jobs %d cannot be used with protech_backup.format \"%s\"",
						protech_backup_jobs, format_name),
				 errdetail("Only a directory-format dump is written by parallel jobs."),
				 errhint("Set protech_backup.jobs to 1, or protech_backup.format to directory.")));
}

/*
 * How an existing backup is stored, from the format and compression its
 * manifest records.  Returns false when they are not a valid combination.
 */
bool
protech_backup_storage_of(const char *format, const char *compression,
						  ProtechBackupStorage *storage)
{
	ProtechBackupMethod method;
	int			level;
	char	   *detail;

	if (!protech_backup_parse_compression(compression, &method, &level, &detail))
		return false;
	for (int f = 0; protech_backup_format_options[f].name; f++)
		if (strcmp(format, protech_backup_format_options[f].name) == 0)
			return find_storage_kind(protech_backup_format_options[f].val,
									 method, level, storage);
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
