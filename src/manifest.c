/*-------------------------------------------------------------------------
 *
 * manifest.c
 *		The manifest beside each backup, the on-disk format of its
 *		description: writing it durably, parsing and checking it, and
 *		recording a verification in it.  Built on durable.c (the rename),
 *		slot.c (the manifest lock) and storage.c (names and suffixes); the
 *		listing of the backups built from the manifests is repository.c's.
 *
 * A manifest is a small JSON object in "<dump name>.json", written to a
 * ".partial" name, fsynced and renamed after the dump itself is complete.
 * Manifests are parsed with the non-throwing JSON parser of src/common, so
 * a damaged manifest is skipped instead of aborting the listing
 * (repository.c says when a manifest and its dump make a backup).
 *
 * A verification rewrites the manifest whole (verified_at, verify_result),
 * the same way.  Every manifest is written holding the manifest lock, and
 * retention removes manifests holding it, so a ".json.partial" exists only
 * while its writer holds the lock, and a verification never brings back
 * the manifest of a backup retention has just deleted.  And every write to
 * the directory holds its lock file too (repository.c), so no other server
 * sharing the directory writes there meanwhile.
 *
 * Since extension version 1.2 the manifest of an encrypted backup records
 * "encryption": "age" and the public keys it is encrypted to,
 * "recipients" (never a secret); the manifests of backups in clear have
 * neither.
 *
 * Since extension version 1.1 a manifest records the cluster that took the
 * backup: its system_identifier (pg_control_system()) and timeline.  The
 * manifests of older versions lack both, read as 0; readers of version 1.0
 * ignore them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jsonapi.h"
#include "common/string.h"
#include "mb/pg_wchar.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "durable.h"
#include "manifest.h"
#include "recipients.h"
#include "slot.h"

/* version of the manifest layout */
#define MANIFEST_VERSION 1
/* a manifest larger than this is not one of ours */
#define MANIFEST_MAX_BYTES 65536

/*
 * Fields of a manifest, as strings, while it is being parsed.
 */
typedef enum ManifestField
{
	MF_VERSION,
	MF_FILE_NAME,
	MF_DATABASE,
	MF_FORMAT,
	MF_COMPRESSION,
	MF_SIZE_BYTES,
	MF_SHA256,
	MF_STARTED_AT,
	MF_FINISHED_AT,
	MF_TRIGGER,
	MF_SERVER_VERSION,
	MF_PG_DUMP_VERSION,
	MF_GLOBALS_FILE,
	MF_GLOBALS_SIZE_BYTES,
	MF_GLOBALS_SHA256,
	MF_TABLES,
	MF_ENCODING,
	MF_LOCALE_PROVIDER,
	MF_LC_COLLATE,
	MF_LC_CTYPE,
	MF_ICU_LOCALE,				/* null for the libc provider */
	MF_NON_SUPERUSER_FUNCTIONS, /* a boolean, missing in older manifests */
	MF_EXTENSIONS,				/* an array, missing in older manifests */
	MF_DATABASE_OWNER,			/* missing in older manifests */
	MF_VERIFIED_AT,				/* null until the first verification */
	MF_VERIFY_RESULT,			/* null until the first verification */
	MF_SYSTEM_IDENTIFIER,		/* absent before extension version 1.1 */
	MF_TIMELINE,				/* absent before extension version 1.1 */
	MF_SINGLE_DATABASE_EXTENSIONS,	/* null when none, absent before 1.2 */
	MF_SINGLE_DATABASE_SCHEMAS, /* null when none, absent before 1.2 */
	MF_PROPERTIES_FILE,			/* the three absent before version 1.2 */
	MF_PROPERTIES_SIZE_BYTES,
	MF_PROPERTIES_SHA256,
	MF_ENCRYPTION,				/* "age", or absent: in clear */
	MF_RECIPIENTS,				/* an array of age public keys, with it */
	MF_COUNT
} ManifestField;

/* the fields that may be null */
#define MF_FIRST_OPTIONAL MF_ICU_LOCALE

static const char *const manifest_field_names[MF_COUNT] = {
	"protech_backup_manifest",
	"file_name",
	"database",
	"format",
	"compression",
	"size_bytes",
	"sha256",
	"started_at",
	"finished_at",
	"trigger",
	"server_version",
	"pg_dump_version",
	"globals_file",
	"globals_size_bytes",
	"globals_sha256",
	"tables",
	"encoding",
	"locale_provider",
	"lc_collate",
	"lc_ctype",
	"icu_locale",
	"non_superuser_functions",
	"extensions",
	"database_owner",
	"verified_at",
	"verify_result",
	"system_identifier",
	"timeline",
	"single_database_extensions",
	"single_database_schemas",
	"database_properties_file",
	"database_properties_size_bytes",
	"database_properties_sha256",
	"encryption",
	"recipients",
};

static bool copy_field(char *dest, size_t size, const char *value);

typedef struct ManifestParse
{
	JsonLexContext *lex;
	int			current;		/* field whose value comes next, or -1 */
	char	   *values[MF_COUNT];
	/* the objects of the array "extensions", while inside it */
	bool		in_extensions;
	bool		extensions_valid;	/* every one of them as it must be */
	int			extension_count;
	ProtechBackupExtension extensions[PROTECH_BACKUP_MAX_EXTENSIONS];
	char	   *extension_field;	/* "name" or "schema" of the current one */
	/* the strings of the array "recipients", while inside it */
	bool		in_recipients;
	bool		recipients_valid;	/* every one of them a key */
	ProtechBackupRecipients recipients;
} ManifestParse;

/*
 * Format a timestamp as UTC ISO 8601 with microseconds, the form manifests
 * store: 2026-11-26T16:00:00.000000Z.
 */
static char *
format_utc_timestamp(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/*
 * Parse the form format_utc_timestamp() writes; false if it is not that.
 */
static bool
parse_utc_timestamp(const char *s, TimestampTz *result)
{
	struct pg_tm tm = {0};
	int			usec;
	char		tail;

	if (strlen(s) != 27 ||
		sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6d%c",
			   &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &usec, &tail) != 8 ||
		tail != 'Z' || tm.tm_mon < 1 || tm.tm_mon > 12 ||
		tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
		tm.tm_min > 59 || tm.tm_sec > 59 || usec < 0)
		return false;
	return tm2timestamp(&tm, usec, NULL, result) == 0;
}

/*
 * Append ',' and the field "name": value to a manifest being written: a
 * JSON string, or null when value is NULL or empty.
 */
static void
append_string_field(StringInfo json, ManifestField field, const char *value)
{
	appendStringInfo(json, ",\n  \"%s\": ", manifest_field_names[field]);
	if (value != NULL && value[0] != '\0')
		escape_json(json, value);
	else
		appendStringInfoString(json, "null");
}

/*
 * Append ',' and the field "name": value, a number, to a manifest being
 * written.
 */
static void
append_number_field(StringInfo json, ManifestField field, int64 value)
{
	appendStringInfo(json, ",\n  \"%s\": " INT64_FORMAT,
					 manifest_field_names[field], value);
}

/*
 * Write the manifest of a complete backup: "<file_name>.json", mode 0600
 * whatever the umask, via a ".partial" name, fsynced and durably renamed.
 * The caller holds the manifest lock, so a ".partial" of that name is a
 * stale one (or planted): it is removed, and the new one created with
 * O_EXCL, so that nothing is ever written through a symbolic link.  On
 * failure the ".partial" is removed, and with new_backup the manifest too
 * (a backup whose manifest could not be made durable is no backup: its
 * caller removes its dump), even when only the directory's fsync after the
 * rename failed; a rewrite (a verification) keeps a manifest renamed into
 * place, which describes its backup as well as the one it replaced.
 */
static void
write_manifest_locked(const char *directory, const ProtechBackupInfo *info,
					  bool new_backup)
{
	StringInfoData json;
	char		partial[MAXPGPATH];
	char		path[MAXPGPATH];
	int			fd;

	initStringInfo(&json);
	appendStringInfo(&json, "{\n  \"%s\": %d", manifest_field_names[MF_VERSION],
					 MANIFEST_VERSION);
	append_string_field(&json, MF_FILE_NAME, info->file_name);
	append_string_field(&json, MF_DATABASE, info->database);
	append_string_field(&json, MF_FORMAT, info->format);
	append_string_field(&json, MF_COMPRESSION, info->compression);
	append_number_field(&json, MF_SIZE_BYTES, info->size_bytes);
	append_string_field(&json, MF_SHA256, info->sha256);
	append_string_field(&json, MF_STARTED_AT,
						format_utc_timestamp(info->started_at));
	append_string_field(&json, MF_FINISHED_AT,
						format_utc_timestamp(info->finished_at));
	append_string_field(&json, MF_TRIGGER, info->trigger);
	append_string_field(&json, MF_SERVER_VERSION, info->server_version);
	append_string_field(&json, MF_PG_DUMP_VERSION, info->pg_dump_version);
	appendStringInfo(&json, ",\n  \"%s\": " UINT64_FORMAT,
					 manifest_field_names[MF_SYSTEM_IDENTIFIER],
					 info->system_identifier);
	append_number_field(&json, MF_TIMELINE, info->timeline);
	append_string_field(&json, MF_GLOBALS_FILE, info->globals_file);
	append_number_field(&json, MF_GLOBALS_SIZE_BYTES, info->globals_size_bytes);
	append_string_field(&json, MF_GLOBALS_SHA256, info->globals_sha256);
	if (info->properties_file[0] != '\0')
	{
		append_string_field(&json, MF_PROPERTIES_FILE, info->properties_file);
		append_number_field(&json, MF_PROPERTIES_SIZE_BYTES,
							info->properties_size_bytes);
		append_string_field(&json, MF_PROPERTIES_SHA256,
							info->properties_sha256);
	}
	append_number_field(&json, MF_TABLES, info->tables);
	append_string_field(&json, MF_ENCODING, info->encoding);
	append_string_field(&json, MF_LOCALE_PROVIDER, info->locale_provider);
	append_string_field(&json, MF_LC_COLLATE, info->lc_collate);
	append_string_field(&json, MF_LC_CTYPE, info->lc_ctype);
	append_string_field(&json, MF_ICU_LOCALE, info->icu_locale);
	appendStringInfo(&json, ",\n  \"%s\": %s",
					 manifest_field_names[MF_NON_SUPERUSER_FUNCTIONS],
					 info->superuser_functions_only ? "false" : "true");
	appendStringInfo(&json, ",\n  \"%s\": [", manifest_field_names[MF_EXTENSIONS]);
	for (int i = 0; i < info->extension_count; i++)
	{
		appendStringInfoString(&json, i > 0 ? ", {\"name\": " : "{\"name\": ");
		escape_json(&json, info->extensions[i].name);
		appendStringInfoString(&json, ", \"schema\": ");
		escape_json(&json, info->extensions[i].schema);
		appendStringInfoChar(&json, '}');
	}
	appendStringInfoChar(&json, ']');
	append_string_field(&json, MF_DATABASE_OWNER, info->database_owner);
	append_string_field(&json, MF_SINGLE_DATABASE_EXTENSIONS,
						info->single_database_extensions);
	append_string_field(&json, MF_SINGLE_DATABASE_SCHEMAS,
						info->single_database_schemas);
	append_string_field(&json, MF_VERIFIED_AT, info->verified_at == 0 ? NULL :
						format_utc_timestamp(info->verified_at));
	append_string_field(&json, MF_VERIFY_RESULT, info->verify_result);
	if (info->recipients.count > 0)
	{
		append_string_field(&json, MF_ENCRYPTION, "age");
		appendStringInfo(&json, ",\n  \"%s\": [", manifest_field_names[MF_RECIPIENTS]);
		for (int i = 0; i < info->recipients.count; i++)
		{
			if (i > 0)
				appendStringInfoString(&json, ", ");
			escape_json(&json, info->recipients.keys[i]);
		}
		appendStringInfoChar(&json, ']');
	}
	appendStringInfoString(&json, "\n}\n");

	protech_backup_build_path(path, directory, info->file_name,
							  PROTECH_BACKUP_MANIFEST_SUFFIX);
	protech_backup_build_path(partial, directory, info->file_name,
							  PROTECH_BACKUP_MANIFEST_SUFFIX PROTECH_BACKUP_PARTIAL_SUFFIX);

	if (unlink(partial) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", partial)));
	fd = protech_backup_open_nofollow(partial, O_WRONLY | O_CREAT | O_EXCL,
									  S_IRUSR | S_IWUSR, NULL);
	errno = 0;
	if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 ||
		write(fd, json.data, json.len) != json.len)
	{
		int			save_errno = errno ? errno : ENOSPC;

		CloseTransientFile(fd);
		unlink(partial);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write to file \"%s\": %m", partial)));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", partial)));
	PG_TRY();
	{
		protech_backup_durable_rename(partial, path, directory);
	}
	PG_CATCH();
	{
		unlink(partial);
		if (new_backup)
			unlink(path);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Write the manifest of a complete backup (see write_manifest_locked).
 */
void
protech_backup_write_manifest(const char *directory,
							  const ProtechBackupInfo *info)
{
	protech_backup_lock_manifests();
	write_manifest_locked(directory, info, true);
	protech_backup_unlock_manifests();
}

static void
manifest_field_start(void *state, char *fname, bool isnull)
{
	ManifestParse *parse = (ManifestParse *) state;

	/* a field of an object of "extensions" */
	if (parse->in_extensions && parse->lex->lex_level == 3)
	{
		parse->extension_field = fname;
		return;
	}
	parse->current = -1;
	if (parse->lex->lex_level != 1)
		return;
	parse->in_extensions = false;
	parse->in_recipients = false;
	for (int i = 0; i < MF_COUNT; i++)
		if (strcmp(fname, manifest_field_names[i]) == 0)
			parse->current = i;
}

/*
 * The start of an array: "extensions" as a whole, or one inside it (which
 * it must not hold).
 */
static void
manifest_array_start(void *state)
{
	ManifestParse *parse = (ManifestParse *) state;

	if (parse->lex->lex_level == 1 && parse->current == MF_EXTENSIONS)
	{
		parse->in_extensions = true;
		parse->extensions_valid = true;
	}
	else if (parse->lex->lex_level == 1 && parse->current == MF_RECIPIENTS)
	{
		parse->in_recipients = true;
		parse->recipients_valid = true;
	}
	else if (parse->in_extensions)
		parse->extensions_valid = false;
	else if (parse->in_recipients)
		parse->recipients_valid = false;
	parse->current = -1;
}

/*
 * The start of an object: one extension when directly inside "extensions".
 */
static void
manifest_object_start(void *state)
{
	ManifestParse *parse = (ManifestParse *) state;

	if (parse->in_recipients)
		parse->recipients_valid = false;
	if (!parse->in_extensions)
		return;
	if (parse->lex->lex_level != 2 ||
		parse->extension_count == PROTECH_BACKUP_MAX_EXTENSIONS)
	{
		parse->extensions_valid = false;
		return;
	}
	memset(&parse->extensions[parse->extension_count++], 0,
		   sizeof(ProtechBackupExtension));
	parse->extension_field = NULL;
}

static void
manifest_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ManifestParse *parse = (ManifestParse *) state;

	if (parse->in_recipients)
	{
		ProtechBackupRecipients *r = &parse->recipients;

		/* only age public keys, directly in the array */
		if (parse->lex->lex_level != 2 || tokentype != JSON_TOKEN_STRING ||
			r->count == PROTECH_BACKUP_MAX_RECIPIENTS ||
			!protech_backup_is_age_recipient(token))
			parse->recipients_valid = false;
		else
			strlcpy(r->keys[r->count++], token, PROTECH_BACKUP_RECIPIENT_SIZE);
		return;
	}
	if (parse->in_extensions)
	{
		ProtechBackupExtension *extension =
			&parse->extensions[parse->extension_count - 1];

		/* only the strings "name" and "schema" of an extension's object */
		if (parse->lex->lex_level != 3 || tokentype != JSON_TOKEN_STRING ||
			parse->extension_field == NULL ||
			!(strcmp(parse->extension_field, "name") == 0 ?
			  copy_field(extension->name, sizeof(extension->name), token) :
			  strcmp(parse->extension_field, "schema") == 0 &&
			  copy_field(extension->schema, sizeof(extension->schema), token)))
			parse->extensions_valid = false;
		parse->extension_field = NULL;
		return;
	}
	/* a null leaves the field unset */
	if (parse->current >= 0 && parse->lex->lex_level == 1 &&
		(tokentype == JSON_TOKEN_STRING || tokentype == JSON_TOKEN_NUMBER ||
		 tokentype == JSON_TOKEN_TRUE || tokentype == JSON_TOKEN_FALSE))
		parse->values[parse->current] = token;
	parse->current = -1;
}

/*
 * Copy a manifest string into a fixed-size field; false if it does not fit.
 */
static bool
copy_field(char *dest, size_t size, const char *value)
{
	return value != NULL && value[0] != '\0' && strlcpy(dest, value, size) < size;
}

/*
 * Parse a manifest's byte count; false if it is not a non-negative integer.
 */
static bool
parse_size(const char *value, int64 *size)
{
	char	   *end;

	errno = 0;
	*size = strtoi64(value, &end, 10);
	return errno == 0 && *end == '\0' && *size >= 0;
}

/*
 * The name an extra file of the backup info describes must have: the
 * dump's name plus suffix, plus ".age" when the backup is encrypted (as
 * backup.c names them).  Palloc'd.
 */
static char *
extra_file_name(const ProtechBackupInfo *info, const char *suffix)
{
	return psprintf("%s%s%s", info->file_name, suffix,
					info->recipients.count > 0 ? PROTECH_BACKUP_AGE_SUFFIX : "");
}

/*
 * Parse the database-level properties file a manifest records (absent
 * from the manifests of versions before 1.2, which leaves its name empty):
 * false unless its three fields are all absent, or all present with the
 * dump's name plus PROTECH_BACKUP_PROPERTIES_SUFFIX (plus ".age" when the
 * backup is encrypted, as its globals file), a size and a SHA-256.  Call
 * it once the recipients are parsed.
 */
static bool
parse_properties(const ManifestParse *parse, ProtechBackupInfo *info)
{
	const char *file = parse->values[MF_PROPERTIES_FILE];

	if (file == NULL)
		return parse->values[MF_PROPERTIES_SIZE_BYTES] == NULL &&
			parse->values[MF_PROPERTIES_SHA256] == NULL;
	return strcmp(file, extra_file_name(info,
										PROTECH_BACKUP_PROPERTIES_SUFFIX)) == 0 &&
		copy_field(info->properties_file, sizeof(info->properties_file), file) &&
		parse->values[MF_PROPERTIES_SIZE_BYTES] != NULL &&
		parse_size(parse->values[MF_PROPERTIES_SIZE_BYTES],
				   &info->properties_size_bytes) &&
		copy_field(info->properties_sha256, sizeof(info->properties_sha256),
				   parse->values[MF_PROPERTIES_SHA256]) &&
		strspn(info->properties_sha256, "0123456789abcdef") ==
		PG_SHA256_DIGEST_LENGTH * 2;
}

/*
 * Parse the cluster a manifest records (system_identifier and timeline,
 * both absent from the manifests of versions before 1.1, which leaves them
 * 0); false if a present value is not a positive integer.
 */
static bool
parse_cluster(const char *system_identifier, const char *timeline,
			  ProtechBackupInfo *info)
{
	char	   *end;

	if (system_identifier != NULL)
	{
		errno = 0;
		info->system_identifier = strtou64(system_identifier, &end, 10);
		if (errno != 0 || *end != '\0' || info->system_identifier == 0 ||
			!isdigit((unsigned char) system_identifier[0]))
			return false;
	}
	if (timeline != NULL)
	{
		int64		tli;

		if (!parse_size(timeline, &tli) || tli == 0 || tli > PG_UINT32_MAX)
			return false;
		info->timeline = (TimeLineID) tli;
	}
	return true;
}

/*
 * Read and check the manifest manifest_name in directory.  Fills *info and
 * *storage and returns true when it is well-formed: every required field
 * present and valid, the file name its own with the suffix of the recorded
 * format and compression.  Returns false for anything else, never raising
 * an error for a damaged manifest.  Does not look at the dump.
 */
bool
protech_backup_parse_manifest(const char *directory,
							  const char *manifest_name,
							  ProtechBackupInfo *info,
							  ProtechBackupStorage *storage)
{
	char		path[MAXPGPATH];
	char		buf[MANIFEST_MAX_BYTES + 1];
	size_t		file_name_len;
	int			fd;
	int			len;
	ManifestParse parse = {0};
	JsonSemAction sem = {0};
	char	   *end;
	char	   *problem;
	char	   *suffix;
	size_t		name_len = strlen(manifest_name) -
		strlen(PROTECH_BACKUP_MANIFEST_SUFFIX);

	protech_backup_build_path(path, directory, manifest_name, "");
	fd = protech_backup_open_nofollow(path, O_RDONLY, 0, &problem);
	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf));
	CloseTransientFile(fd);
	if (len <= 0 || len > MANIFEST_MAX_BYTES)
		return false;
	buf[len] = '\0';

	parse.lex = makeJsonLexContextCstringLen(buf, len, PG_UTF8, true);
	parse.current = -1;
	sem.semstate = &parse;
	sem.object_field_start = manifest_field_start;
	sem.array_start = manifest_array_start;
	sem.object_start = manifest_object_start;
	sem.scalar = manifest_scalar;
	if (pg_parse_json(parse.lex, &sem) != JSON_SUCCESS)
		return false;
	for (int i = 0; i < MF_FIRST_OPTIONAL; i++)
		if (parse.values[i] == NULL)
			return false;

	memset(info, 0, sizeof(*info));
	if (atoi(parse.values[MF_VERSION]) != MANIFEST_VERSION ||
		!copy_field(info->file_name, sizeof(info->file_name), parse.values[MF_FILE_NAME]) ||
		!copy_field(info->database, sizeof(info->database), parse.values[MF_DATABASE]) ||
		!copy_field(info->format, sizeof(info->format), parse.values[MF_FORMAT]) ||
		!copy_field(info->compression, sizeof(info->compression), parse.values[MF_COMPRESSION]) ||
		!copy_field(info->sha256, sizeof(info->sha256), parse.values[MF_SHA256]) ||
		!copy_field(info->trigger, sizeof(info->trigger), parse.values[MF_TRIGGER]) ||
		!copy_field(info->server_version, sizeof(info->server_version), parse.values[MF_SERVER_VERSION]) ||
		!copy_field(info->pg_dump_version, sizeof(info->pg_dump_version), parse.values[MF_PG_DUMP_VERSION]) ||
		!copy_field(info->globals_file, sizeof(info->globals_file), parse.values[MF_GLOBALS_FILE]) ||
		!copy_field(info->globals_sha256, sizeof(info->globals_sha256), parse.values[MF_GLOBALS_SHA256]) ||
		!copy_field(info->encoding, sizeof(info->encoding), parse.values[MF_ENCODING]) ||
		!copy_field(info->locale_provider, sizeof(info->locale_provider), parse.values[MF_LOCALE_PROVIDER]) ||
		!copy_field(info->lc_collate, sizeof(info->lc_collate), parse.values[MF_LC_COLLATE]) ||
		!copy_field(info->lc_ctype, sizeof(info->lc_ctype), parse.values[MF_LC_CTYPE]) ||
		(parse.values[MF_ICU_LOCALE] != NULL &&
		 !copy_field(info->icu_locale, sizeof(info->icu_locale), parse.values[MF_ICU_LOCALE])) ||
		!parse_utc_timestamp(parse.values[MF_STARTED_AT], &info->started_at) ||
		!parse_utc_timestamp(parse.values[MF_FINISHED_AT], &info->finished_at) ||
		(parse.values[MF_VERIFIED_AT] != NULL &&
		 !parse_utc_timestamp(parse.values[MF_VERIFIED_AT], &info->verified_at)) ||
		(parse.values[MF_VERIFY_RESULT] != NULL &&
		 !copy_field(info->verify_result, sizeof(info->verify_result), parse.values[MF_VERIFY_RESULT])) ||
		!parse_cluster(parse.values[MF_SYSTEM_IDENTIFIER],
					   parse.values[MF_TIMELINE], info))
		return false;

	/* absent (an older manifest): not known to be safe to restore */
	info->superuser_functions_only =
		parse.values[MF_NON_SUPERUSER_FUNCTIONS] != NULL &&
		strcmp(parse.values[MF_NON_SUPERUSER_FUNCTIONS], "false") == 0;
	if ((parse.values[MF_DATABASE_OWNER] != NULL &&
		 !copy_field(info->database_owner, sizeof(info->database_owner),
					 parse.values[MF_DATABASE_OWNER])) ||
		parse.values[MF_EXTENSIONS] != NULL ||
		(parse.extension_count > 0 && !parse.extensions_valid) ||
		(parse.values[MF_SINGLE_DATABASE_EXTENSIONS] != NULL &&
		 !copy_field(info->single_database_extensions,
					 sizeof(info->single_database_extensions),
					 parse.values[MF_SINGLE_DATABASE_EXTENSIONS])) ||
		(parse.values[MF_SINGLE_DATABASE_SCHEMAS] != NULL &&
		 !copy_field(info->single_database_schemas,
					 sizeof(info->single_database_schemas),
					 parse.values[MF_SINGLE_DATABASE_SCHEMAS])))
		return false;
	for (int i = 0; i < parse.extension_count; i++)
		if (parse.extensions[i].name[0] == '\0' ||
			parse.extensions[i].schema[0] == '\0')
			return false;
	info->extension_count = parse.extension_count;
	memcpy(info->extensions, parse.extensions,
		   parse.extension_count * sizeof(ProtechBackupExtension));

	/* encrypted with age to at least one key, or in clear with no keys */
	if (parse.values[MF_RECIPIENTS] != NULL ||
		(parse.values[MF_ENCRYPTION] == NULL ? parse.recipients.count > 0 :
		 strcmp(parse.values[MF_ENCRYPTION], "age") != 0 ||
		 parse.recipients.count == 0 || !parse.recipients_valid))
		return false;
	info->recipients = parse.recipients;

	/* the manifest must describe the dump it is named after */
	if (strlen(info->file_name) != name_len ||
		strncmp(info->file_name, manifest_name, name_len) != 0 ||
		!protech_backup_is_backup_name(info->file_name) ||
		strspn(info->sha256, "0123456789abcdef") != PG_SHA256_DIGEST_LENGTH * 2 ||
		!protech_backup_storage_of(info->format, info->compression, storage))
		return false;
	/* an ICU locale exactly when the provider is ICU */
	if (strcmp(info->locale_provider, "icu") == 0 ? info->icu_locale[0] == '\0' :
		strcmp(info->locale_provider, "libc") != 0 || info->icu_locale[0] != '\0')
		return false;
	file_name_len = strlen(info->file_name);
	suffix = psprintf("%s%s", storage->suffix,
					  info->recipients.count > 0 ? PROTECH_BACKUP_AGE_SUFFIX : "");
	if (file_name_len < strlen(suffix) ||
		strcmp(info->file_name + file_name_len - strlen(suffix), suffix) != 0 ||
		(info->recipients.count > 0 &&
		 storage->format == PROTECH_BACKUP_FORMAT_DIRECTORY))
		return false;
	if (!parse_size(parse.values[MF_SIZE_BYTES], &info->size_bytes) ||
		!parse_size(parse.values[MF_GLOBALS_SIZE_BYTES], &info->globals_size_bytes))
		return false;

	/* the globals file is the dump's name plus its suffix, encrypted too */
	if (strcmp(info->globals_file,
			   extra_file_name(info, PROTECH_BACKUP_GLOBALS_SUFFIX)) != 0 ||
		strspn(info->globals_sha256, "0123456789abcdef") != PG_SHA256_DIGEST_LENGTH * 2)
		return false;
	if (!parse_properties(&parse, info))
		return false;
	errno = 0;
	info->tables = strtoint(parse.values[MF_TABLES], &end, 10);
	if (errno != 0 || *end != '\0' || info->tables < 0)
		return false;
	return true;
}

/*
 * Record the outcome of a verification, verified_at and verify_result of
 * verified, in the manifest of that backup, rewriting it whole.  Returns
 * false, writing nothing, when the manifest no longer describes that very
 * backup (retention deleted it meanwhile, or it was edited).  The caller
 * holds the manifest lock and may write to directory (see
 * protech_backup_begin_manifest_update).
 */
bool
protech_backup_record_verification(const char *directory,
								   const ProtechBackupInfo *verified)
{
	ProtechBackupInfo current;
	ProtechBackupStorage storage;
	bool		same;

	same = protech_backup_parse_manifest(directory,
						  psprintf("%s%s", verified->file_name,
								   PROTECH_BACKUP_MANIFEST_SUFFIX),
						  &current, &storage) &&
		strcmp(current.sha256, verified->sha256) == 0 &&
		current.size_bytes == verified->size_bytes &&
		current.started_at == verified->started_at;
	if (same)
	{
		current.verified_at = verified->verified_at;
		strlcpy(current.verify_result, verified->verify_result,
				sizeof(current.verify_result));
		write_manifest_locked(directory, &current, false);
	}
	return same;
}
