/*-------------------------------------------------------------------------
 *
 * settings.c
 *		Every setting (GUC) of protech_backup: its variable, its definition
 *		(protech_backup_define_settings, called by _PG_init) and its check
 *		hook; and what the settings in force mean: the parsed schedule, time
 *		zone, compression and pg_dump options, how the next backup is stored
 *		and the backup directory.
 *
 * The settings with a syntax of their own are parsed once, by their check
 * hooks, in the manner of guc.c's check_timezone and assign_timezone: the
 * check hook parses the new value into a malloc'd "extra" (which the GUC
 * machinery keeps with the value and frees with it), and the assign hook
 * points this module's parsed form at it.  Nothing parses them again, so
 * there is no "cannot happen" branch for a value that passed its check.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "miscadmin.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "pg_dump_options.h"
#include "protech_backup.h"
#include "recipients.h"
#include "settings.h"

#define COMPRESSION_HINT "Use none, gzip, gzip:1 to gzip:9, zstd or zstd:1 to zstd:19."
#define RECIPIENTS_HINT "Give age public keys (age-keygen prints one) separated by commas, or @ and the absolute path of a file holding one a line; empty turns encryption off."
#define OPTIONS_HINT "Give each option with its value in one word, such as --exclude-table-data=audit_log or -Taudit_log."

char	   *protech_backup_database = NULL;
char	   *protech_backup_databases = NULL;
char	   *protech_backup_directory = NULL;
char	   *protech_backup_pg_dump_path = NULL;
char	   *protech_backup_role = NULL;
char	   *protech_backup_restore_role = NULL;
char	   *protech_backup_timezone = NULL;
char	   *protech_backup_schedule = NULL;
bool		protech_backup_catch_up = true;
int			protech_backup_history_days = 90;
char	   *protech_backup_post_backup_command = NULL;
int			protech_backup_timeout = 0;
double		protech_backup_min_size_ratio = 0.5;
int			protech_backup_min_free_space = 1024;
int			protech_backup_lock_wait_timeout = 300000;
char	   *protech_backup_passfile = NULL;
int			protech_backup_format = PROTECH_BACKUP_FORMAT_PLAIN;
char	   *protech_backup_compression = NULL;
int			protech_backup_jobs = 1;
char	   *protech_backup_pg_dump_options = NULL;
int			protech_backup_verify_after_backup = PROTECH_BACKUP_VERIFY_CHECKSUM;
int			protech_backup_retention_count = 30;
int			protech_backup_retention_days = 0;
int			protech_backup_keep_daily = 0;
int			protech_backup_keep_weekly = 0;
int			protech_backup_keep_monthly = 0;
int			protech_backup_retention_max_size = 0;	/* in MB */
char	   *protech_backup_encryption_recipients = NULL;
char	   *protech_backup_encryption_identity_file = NULL;
/* read by protech_backup_status() only, in SQL */
static int	expected_interval = 0;

static const struct config_enum_entry verify_after_backup_options[] = {
	{"off", PROTECH_BACKUP_VERIFY_OFF, false},
	{"checksum", PROTECH_BACKUP_VERIFY_CHECKSUM, false},
	{"restore", PROTECH_BACKUP_VERIFY_RESTORE, false},
	{NULL, 0, false}
};

/*
 * The extra of protech_backup.schedule: whether scheduling is on, and the
 * parsed schedule when it is.
 */
typedef struct ScheduleExtra
{
	bool		enabled;
	ProtechBackupSchedule schedule;
} ScheduleExtra;

/* the parsed forms in force, each the extra of its setting's value */
static const ScheduleExtra *schedule_parsed = NULL;
static pg_tz *const *timezone_parsed = NULL;
static const ProtechBackupCompression *compression_parsed = NULL;
static const char *const *pg_dump_options_parsed = NULL;
static const ProtechBackupRecipients *recipients_parsed = NULL;
static const ProtechBackupDatabaseList *databases_parsed = NULL;

static char *default_directory(void);

/*
 * Check hook for settings that must name a database object: not empty (where
 * required) and short enough to be a name.
 */
static bool
check_object_name(char **newval, bool allow_empty, const char *what)
{
	if (**newval == '\0')
	{
		if (allow_empty)
			return true;
		GUC_check_errdetail("The %s name must not be empty.", what);
		return false;
	}
	if (strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("The %s name must be shorter than %d bytes.",
							what, NAMEDATALEN);
		return false;
	}
	return true;
}

static bool
check_database(char **newval, void **extra, GucSource source)
{
	return check_object_name(newval, false, "database");
}

static bool
check_role(char **newval, void **extra, GucSource source)
{
	return check_object_name(newval, true, "role");
}

/*
 * Check hook for settings that hold a path: empty (the built-in default) or
 * absolute, since the server's working directory is no place to guess from.
 */
static bool
check_absolute_path(char **newval, void **extra, GucSource source)
{
	if (**newval != '\0' && !is_absolute_path(*newval))
	{
		GUC_check_errdetail("The path \"%s\" is not absolute.", *newval);
		GUC_check_errhint("Give the full path, starting with \"/\".");
		return false;
	}
	return true;
}

/*
 * Whether path is dir itself or lies below it (both canonical).
 */
static bool
path_within(const char *path, const char *dir)
{
	size_t		len = strlen(dir);

	return strncmp(path, dir, len) == 0 &&
		(path[len] == '\0' || path[len] == '/');
}

/*
 * The real path of path, through every symbolic link: realpath() of path,
 * or, for a path that does not exist yet, of its nearest existing ancestor
 * with the rest appended.  NULL when not even "/" resolves.  palloc'd.
 */
static char *
real_path(const char *path)
{
	char	   *existing = pstrdup(path);
	char	   *rest = pstrdup("");

	canonicalize_path(existing);
	for (;;)
	{
		char	   *resolved = realpath(existing, NULL);
		char	   *last;

		if (resolved != NULL)
		{
			char	   *result = psprintf("%s%s", resolved, rest);

			free(resolved);
			canonicalize_path(result);
			return result;
		}
		last = strrchr(existing, '/');
		if (errno != ENOENT || last == NULL)
			return NULL;
		rest = psprintf("%s%s", last, rest);
		if (last == existing)
			existing = pstrdup("/");
		else
			*last = '\0';
	}
}

/*
 * Whether real path lies in what PostgreSQL manages in the data directory,
 * through any symbolic link: the data directory itself, or inside its
 * pg_wal, global, base or pg_tblspc (or a tablespace a link there points
 * to), where a backup could be mistaken for or clobber server files.  If
 * so, *detail says which.  Elsewhere inside the data directory is allowed,
 * with a warning when a backup starts (see protech_backup_in_data_directory).
 */
static bool
in_managed_location(const char *real, char **detail)
{
	static const char *const managed[] = {"pg_wal", "global", "base", "pg_tblspc"};
	char	   *datadir = real_path(DataDir);
	char	   *tblspc;
	DIR		   *dir;
	struct dirent *de;

	if (datadir == NULL)
		return false;
	if (strcmp(real, datadir) == 0)
	{
		*detail = psprintf("The backup directory must not be the data directory itself. It resolves to \"%s\".",
						   real);
		return true;
	}
	for (int i = 0; i < lengthof(managed); i++)
	{
		char	   *forbidden = real_path(psprintf("%s/%s", datadir, managed[i]));

		if (forbidden != NULL && path_within(real, forbidden))
		{
			*detail = psprintf("The backup directory must not be inside \"%s\", which PostgreSQL manages. It resolves to \"%s\".",
							   forbidden, real);
			return true;
		}
	}
	tblspc = psprintf("%s/pg_tblspc", datadir);
	if ((dir = opendir(tblspc)) == NULL)
		return false;
	while ((de = readdir(dir)) != NULL)
	{
		char	   *location = de->d_name[0] == '.' ? NULL :
			real_path(psprintf("%s/%s", tblspc, de->d_name));

		if (location != NULL && path_within(real, location))
		{
			*detail = psprintf("The backup directory must not be inside the tablespace \"%s\", which PostgreSQL manages. It resolves to \"%s\".",
							   location, real);
			closedir(dir);
			return true;
		}
	}
	closedir(dir);
	return false;
}

/*
 * Raise invalid_parameter_value when the backup directory, resolved through
 * every symbolic link, lies where PostgreSQL manages files (see
 * in_managed_location): the check hook refused that when the setting was
 * made, but a link on the way may have been changed since.
 */
void
protech_backup_check_directory_location(const char *directory)
{
	char	   *real = real_path(directory);
	char	   *detail;

	if (real != NULL && in_managed_location(real, &detail))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup directory \"%s\" lies where PostgreSQL manages files",
						directory),
				 errdetail("%s", detail),
				 errhint("Set protech_backup.directory to a directory outside the data directory.")));
}

/*
 * Check hook for protech_backup.directory: an absolute path, short enough
 * that every file a backup creates in it has a path shorter than
 * MAXPGPATH, and that does not lie, through any symbolic link, where
 * PostgreSQL manages files (see in_managed_location).
 */
static bool
check_directory(char **newval, void **extra, GucSource source)
{
	char	   *real;
	char	   *detail;

	if (!check_absolute_path(newval, extra, source))
		return false;
	if (**newval == '\0')
		return true;
	if (strlen(*newval) > PROTECH_BACKUP_MAX_DIRECTORY_LENGTH)
	{
		GUC_check_errdetail("The path is %zu bytes long, too long for the paths of the files a backup creates in it.",
							strlen(*newval));
		GUC_check_errhint("Use a directory path of at most %d bytes.",
						  PROTECH_BACKUP_MAX_DIRECTORY_LENGTH);
		return false;
	}
	if (DataDir == NULL)
		return true;
	real = real_path(*newval);
	if (real != NULL && in_managed_location(real, &detail))
	{
		GUC_check_errdetail("%s", detail);
		GUC_check_errhint("Use a directory outside the data directory.");
		return false;
	}
	return true;
}

/*
 * Keep a copy of the size bytes of parsed in a malloc'd *extra, for the
 * GUC machinery to keep with the value (and free with it).  False when
 * out of memory, which fails the check.
 */
static bool
keep_extra(void **extra, const void *parsed, size_t size)
{
	*extra = malloc(size);
	if (*extra == NULL)
		return false;
	memcpy(*extra, parsed, size);
	return true;
}

/*
 * Check hook for protech_backup.databases: empty (protech_backup.database
 * alone), "*" (every database that accepts connections, templates aside) or
 * a comma-separated list of database names, unquoted names folded to lower
 * case as SQL identifiers are, each name once; kept parsed in *extra as one
 * malloc'd block.
 */
static bool
check_databases(char **newval, void **extra, GucSource source)
{
	char	   *copy = pstrdup(*newval);
	char	   *trimmed = copy;
	List	   *names;
	ListCell   *lc;
	ProtechBackupDatabaseList *parsed;
	int			i = 0;

	while (scanner_isspace(*trimmed))
		trimmed++;
	for (char *end = trimmed + strlen(trimmed);
		 end > trimmed && scanner_isspace(end[-1]); end--)
		end[-1] = '\0';
	if (*trimmed == '\0' || strcmp(trimmed, "*") == 0)
	{
		ProtechBackupDatabaseList none = {.all = *trimmed == '*', .count = 0};

		return keep_extra(extra, &none, sizeof(none));
	}
	if (!SplitIdentifierString(trimmed, ',', &names))
	{
		GUC_check_errdetail("The list of databases is not a comma-separated list of names.");
		GUC_check_errhint("Give names such as app, \"Reporting DB\", or * for every database.");
		return false;
	}
	foreach(lc, names)
	{
		const char *name = lfirst(lc);

		if (*name == '\0' || strcmp(name, "*") == 0)
		{
			GUC_check_errdetail("\"%s\" is not a database name here.", name);
			GUC_check_errhint("Give * alone for every database, or a list of names.");
			return false;
		}
		for (ListCell *other = list_head(names); other != lc;
			 other = lnext(names, other))
			if (strcmp(lfirst(other), name) == 0)
			{
				GUC_check_errdetail("Database \"%s\" is listed twice.", name);
				return false;
			}
	}
	parsed = malloc(offsetof(ProtechBackupDatabaseList, names) +
					list_length(names) * NAMEDATALEN);
	if (parsed == NULL)
		return false;
	parsed->all = false;
	parsed->count = list_length(names);
	foreach(lc, names)
		strlcpy(parsed->names[i++], lfirst(lc), NAMEDATALEN);
	*extra = parsed;
	return true;
}

static void
assign_databases(const char *newval, void *extra)
{
	databases_parsed = (const ProtechBackupDatabaseList *) extra;
}

/*
 * Check hook for protech_backup.schedule: empty (scheduling disabled) or a
 * schedule the parser accepts, kept parsed in *extra.
 */
static bool
check_schedule(char **newval, void **extra, GucSource source)
{
	ScheduleExtra parsed = {0};
	char	   *detail;

	parsed.enabled = **newval != '\0';
	if (parsed.enabled &&
		!protech_backup_parse_schedule(*newval, &parsed.schedule, &detail))
	{
		GUC_check_errdetail("%s", detail);
		GUC_check_errhint(PROTECH_BACKUP_SCHEDULE_HINT);
		return false;
	}
	return keep_extra(extra, &parsed, sizeof(ScheduleExtra));
}

static void
assign_schedule(const char *newval, void *extra)
{
	schedule_parsed = (const ScheduleExtra *) extra;
}

/*
 * Check hook for protech_backup.timezone: any zone PostgreSQL itself knows,
 * kept in *extra (pg_tzset's zones live as long as the process).
 */
static bool
check_timezone(char **newval, void **extra, GucSource source)
{
	pg_tz	   *tz = protech_backup_find_time_zone(*newval);

	if (tz == NULL)
	{
		GUC_check_errdetail(PROTECH_BACKUP_TIMEZONE_DETAIL, *newval);
		GUC_check_errhint(PROTECH_BACKUP_TIMEZONE_HINT);
		return false;
	}
	return keep_extra(extra, &tz, sizeof(pg_tz *));
}

static void
assign_timezone(const char *newval, void *extra)
{
	timezone_parsed = (pg_tz *const *) extra;
}

/*
 * Check hook of protech_backup.compression, keeping the method and level
 * in *extra.
 */
static bool
check_compression(char **newval, void **extra, GucSource source)
{
	ProtechBackupCompression parsed;
	char	   *detail;

	if (!protech_backup_parse_compression(*newval, &parsed, &detail))
	{
		GUC_check_errdetail("%s", detail);
		GUC_check_errhint(COMPRESSION_HINT);
		return false;
	}
	return keep_extra(extra, &parsed, sizeof(ProtechBackupCompression));
}

static void
assign_compression(const char *newval, void *extra)
{
	compression_parsed = (const ProtechBackupCompression *) extra;
}

/*
 * Check hook of protech_backup.pg_dump_options, keeping the words in
 * *extra as one malloc'd block (the GUC machinery frees an extra with one
 * free()): a NULL-terminated array of pointers followed by the words.
 */
static bool
check_pg_dump_options(char **newval, void **extra, GucSource source)
{
	List	   *words;
	char	   *detail;
	ListCell   *lc;
	size_t		size;
	char	  **argv;
	char	   *text;
	int			i = 0;

	if (!protech_backup_parse_pg_dump_options(*newval, &words, &detail))
	{
		GUC_check_errdetail("%s", detail);
		GUC_check_errhint(OPTIONS_HINT);
		return false;
	}
	size = (list_length(words) + 1) * sizeof(char *);
	foreach(lc, words)
		size += strlen(lfirst(lc)) + 1;
	*extra = malloc(size);
	if (*extra == NULL)
		return false;
	argv = (char **) *extra;
	text = (char *) (argv + list_length(words) + 1);
	foreach(lc, words)
	{
		argv[i++] = text;
		text = stpcpy(text, lfirst(lc)) + 1;
	}
	argv[i] = NULL;
	return true;
}

static void
assign_pg_dump_options(const char *newval, void *extra)
{
	pg_dump_options_parsed = (const char *const *) extra;
}

/*
 * Check hook of protech_backup.encryption_recipients: empty, age public
 * keys or "@" and a recipients file (read now, see recipients.c), kept
 * parsed in *extra.
 */
static bool
check_recipients(char **newval, void **extra, GucSource source)
{
	ProtechBackupRecipients parsed;
	char	   *detail;

	if (!protech_backup_parse_recipients(*newval, &parsed, &detail))
	{
		GUC_check_errdetail("%s", detail);
		GUC_check_errhint(RECIPIENTS_HINT);
		return false;
	}
	return keep_extra(extra, &parsed, sizeof(ProtechBackupRecipients));
}

static void
assign_recipients(const char *newval, void *extra)
{
	recipients_parsed = (const ProtechBackupRecipients *) extra;
}

/*
 * Define every setting, reserving the prefix.  Called from _PG_init.
 */
void
protech_backup_define_settings(void)
{
	char	   *directory_default = default_directory();

	DefineCustomStringVariable("protech_backup.database",
							   "Database that is backed up.",
							   NULL,
							   &protech_backup_database,
							   "postgres",
							   PGC_SIGHUP, 0,
							   check_database, NULL, NULL);
	DefineCustomStringVariable("protech_backup.databases",
							   "Databases that are backed up, each in turn at every scheduled run.",
							   "A comma-separated list of database names, or * for every database that "
							   "accepts connections except templates; empty means protech_backup.database alone.",
							   &protech_backup_databases,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_LIST_INPUT,
							   check_databases, assign_databases, NULL);
	DefineCustomStringVariable("protech_backup.directory",
							   "Directory the backups are written to.",
							   "The default is a folder protech_backup_<name of the data directory> "
							   "beside the data directory when its parent is writable, else "
							   "protech_backup inside the data directory; empty means that default.",
							   &protech_backup_directory,
							   directory_default ? directory_default : "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_directory, NULL, NULL);
	DefineCustomStringVariable("protech_backup.pg_dump_path",
							   "Path of the pg_dump program.",
							   "Empty means the pg_dump installed next to the running postgres.",
							   &protech_backup_pg_dump_path,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_absolute_path, NULL, NULL);
	DefineCustomStringVariable("protech_backup.role",
							   "Role pg_dump connects as.",
							   "Empty means the bootstrap superuser.",
							   &protech_backup_role,
							   "",
							   PGC_SIGHUP, 0,
							   check_role, NULL, NULL);
	DefineCustomStringVariable("protech_backup.restore_role",
							   "Role restores connect as, instead of protech_backup.role.",
							   "It must not be a superuser; empty means protech_backup.role, which restores only "
							   "backups of databases whose functions all belong to superusers.",
							   &protech_backup_restore_role,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_role, NULL, NULL);
	DefineCustomStringVariable("protech_backup.schedule",
							   "When backups are taken, in cron syntax, in protech_backup.timezone.",
							   "Five fields \"minute hour day-of-month month day-of-week\" "
							   "or a macro such as @daily; empty disables scheduled backups.",
							   &protech_backup_schedule,
							   "0 16 * * *",
							   PGC_SIGHUP, 0,
							   check_schedule, assign_schedule, NULL);
	DefineCustomStringVariable("protech_backup.timezone",
							   "Time zone of backup file names and of the schedule.",
							   NULL,
							   &protech_backup_timezone,
							   "UTC",
							   PGC_SIGHUP, 0,
							   check_timezone, assign_timezone, NULL);

	DefineCustomEnumVariable("protech_backup.format",
							 "pg_dump format of backups: plain, custom or directory.",
							 "plain is a SQL script (.sql) restored with psql, custom an archive "
							 "(.dump) and directory a folder (.dir) restored with pg_restore.",
							 &protech_backup_format,
							 PROTECH_BACKUP_FORMAT_PLAIN,
							 protech_backup_format_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("protech_backup.compression",
							   "Compression of backups: none, gzip[:level] or zstd[:level].",
							   "Levels are 1 to 9 for gzip (default 6) and 1 to 19 for zstd (default 3).",
							   &protech_backup_compression,
							   "none",
							   PGC_SIGHUP, 0,
							   check_compression, assign_compression, NULL);
	DefineCustomIntVariable("protech_backup.jobs",
							"Parallel pg_dump jobs of a directory-format backup.",
							"Each job is one more connection to the database.",
							&protech_backup_jobs,
							1, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("protech_backup.pg_dump_options",
							   "Extra pg_dump options, split like a shell would split them, without expansion.",
							   "Options that choose the output, the format, the compression, the jobs "
							   "or the connection are set by protech_backup and cannot be given.",
							   &protech_backup_pg_dump_options,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_pg_dump_options, assign_pg_dump_options, NULL);

	DefineCustomEnumVariable("protech_backup.verify_after_backup",
							 "How each backup is verified right after it is taken: off, checksum or restore.",
							 "checksum reads it back against its manifest, decompressing it; restore also "
							 "restores it into a scratch database and checks its tables. A failed "
							 "verification fails the run.",
							 &protech_backup_verify_after_backup,
							 PROTECH_BACKUP_VERIFY_CHECKSUM,
							 verify_after_backup_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("protech_backup.catch_up",
							 "Run one catch-up backup at start-up when a scheduled run was missed.",
							 NULL,
							 &protech_backup_catch_up,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.history_days",
							"Days of run history to keep in protech_backup_history.",
							"0 keeps the history forever.",
							&protech_backup_history_days,
							90, 0, 36500,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("protech_backup.post_backup_command",
							   "Shell command run after each successful backup, e.g. to copy it off-site.",
							   "%p is replaced by the dump's path, %f its file name, %d the directory, "
							   "%m the manifest's path, %% by a percent sign.",
							   &protech_backup_post_backup_command,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.timeout",
							"Longest time pg_dump or the post-backup command may run before it is killed.",
							"0 means no limit.",
							&protech_backup_timeout,
							0, 0, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.min_free_space",
							"Free space the backup directory's file system must have for a backup to start.",
							"A backup also needs 1.2 times the size of the last backup free; 0 turns both checks off.",
							&protech_backup_min_free_space,
							1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.lock_wait_timeout",
							"Longest time pg_dump waits for the lock on a table before the backup fails.",
							"0 means pg_dump waits as long as it takes.",
							&protech_backup_lock_wait_timeout,
							300000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("protech_backup.passfile",
							   "Password file pg_dump reads when its connection needs a password.",
							   "Empty means the .pgpass file in the home directory of the server's operating system user.",
							   &protech_backup_passfile,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_absolute_path, NULL, NULL);
	DefineCustomRealVariable("protech_backup.min_size_ratio",
							 "A backup smaller than this fraction of the median of the previous ones is a size anomaly.",
							 NULL,
							 &protech_backup_min_size_ratio,
							 0.5, 0.0, 1.0,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.expected_interval",
							"How often a successful backup is expected, for protech_backup_status().",
							"A backup older than 1.5 times this is a problem. 0 means the period of "
							"protech_backup.schedule; set it when another scheduler (pg_cron) takes the backups.",
							&expected_interval,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.retention_count",
							"Number of newest complete backups that retention keeps.",
							"0 means no count limit.",
							&protech_backup_retention_count,
							30, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.retention_days",
							"Retention keeps every complete backup younger than this many days.",
							"A day is 24 hours; 0 turns this rule off.",
							&protech_backup_retention_days,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.keep_daily",
							"Retention keeps the newest backup of each of this many most recent days.",
							"Days are those of protech_backup.timezone that have a backup; 0 turns this rule off.",
							&protech_backup_keep_daily,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.keep_weekly",
							"Retention keeps the newest backup of each of this many most recent ISO weeks.",
							"Weeks are those of protech_backup.timezone that have a backup; 0 turns this rule off.",
							&protech_backup_keep_weekly,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.keep_monthly",
							"Retention keeps the newest backup of each of this many most recent months.",
							"Months are those of protech_backup.timezone that have a backup; 0 turns this rule off.",
							&protech_backup_keep_monthly,
							0, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.retention_max_size",
							"Total size of the kept backups above which retention deletes the oldest.",
							"Applied after the keep rules; the newest backup is kept even when it alone is larger. "
							"0 turns this limit off.",
							&protech_backup_retention_max_size,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomStringVariable("protech_backup.encryption_recipients",
							   "age public keys backups are encrypted to, separated by commas, or @ and a recipients file.",
							   "Empty means backups are stored in clear. Only the public keys are needed to take, "
							   "checksum-verify, list, rotate and download backups.",
							   &protech_backup_encryption_recipients,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_recipients, assign_recipients, NULL);
	DefineCustomStringVariable("protech_backup.encryption_identity_file",
							   "age identity file (private key) that decrypts backups to restore or verify them by restoring.",
							   "Empty means encrypted backups cannot be restored through the extension.",
							   &protech_backup_encryption_identity_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_absolute_path, NULL, NULL);

	MarkGUCPrefixReserved("protech_backup");
}

/*
 * The schedule in force, or NULL when scheduling is disabled (an empty
 * protech_backup.schedule).
 */
const ProtechBackupSchedule *
protech_backup_schedule_in_force(void)
{
	return schedule_parsed->enabled ? &schedule_parsed->schedule : NULL;
}

/*
 * The databases protech_backup.databases names, as its check hook parsed
 * them: count 0 and all false when it is empty.
 */
const ProtechBackupDatabaseList *
protech_backup_databases_in_force(void)
{
	return databases_parsed;
}

/*
 * The zone of protech_backup.timezone.
 */
pg_tz *
protech_backup_timezone_in_force(void)
{
	return *timezone_parsed;
}

/*
 * The words of protech_backup.pg_dump_options, NULL-terminated.
 */
const char *const *
protech_backup_pg_dump_options_in_force(void)
{
	return pg_dump_options_parsed;
}

/*
 * The recipients backups are encrypted to now (count 0: in clear).
 */
const ProtechBackupRecipients *
protech_backup_recipients_in_force(void)
{
	return recipients_parsed;
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

	if (!protech_backup_storage_for(protech_backup_format, compression_parsed,
									storage))
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
	if (recipients_parsed->count > 0 &&
		protech_backup_format == PROTECH_BACKUP_FORMAT_DIRECTORY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("protech_backup.encryption_recipients cannot be used with protech_backup.format \"%s\"",
						format_name),
				 errdetail("pg_dump writes a directory-format dump itself, file by file, and pg_restore cannot read an encrypted folder."),
				 errhint("Set protech_backup.format to plain or custom, or protech_backup.encryption_recipients to an empty string.")));
	if (recipients_parsed->count > 0 &&
		protech_backup_verify_after_backup == PROTECH_BACKUP_VERIFY_RESTORE &&
		protech_backup_encryption_identity_file[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("protech_backup.verify_after_backup \"restore\" needs protech_backup.encryption_identity_file with protech_backup.encryption_recipients"),
				 errdetail("Backups are encrypted, and restoring one to verify it needs the age identity (private key) of one of the recipients."),
				 errhint("Set protech_backup.encryption_identity_file, or protech_backup.verify_after_backup to checksum, which needs no key.")));
}

/*
 * Whether path (absolute) is inside the data directory, where base backups
 * of the data directory would copy the dumps too.
 */
bool
protech_backup_in_data_directory(const char *path)
{
	char	   *canonical = pstrdup(path);
	char	   *datadir = pstrdup(DataDir);

	canonicalize_path(canonical);
	canonicalize_path(datadir);
	return path_within(canonical, datadir);
}

/*
 * The default backup directory: beside the data directory (in its parent)
 * when that parent is writable, so that base backups of the data directory
 * do not copy the dumps, else inside the data directory.  The folder beside
 * it is named after the data directory ("protech_backup_main" for Debian's
 * /var/lib/postgresql/15/main), so that clusters whose data directories
 * share a parent never share, list or rotate each other's backups.  NULL
 * before the data directory is known.  Returns a palloc'd string.
 */
static char *
default_directory(void)
{
	char	   *parent;

	if (DataDir == NULL)
		return NULL;
	parent = pstrdup(DataDir);
	get_parent_directory(parent);
	if (parent[0] != '\0' && access(parent, W_OK) == 0)
		return psprintf("%s%sprotech_backup_%s", parent,
						strcmp(parent, "/") == 0 ? "" : "/",
						last_dir_separator(DataDir) + 1);
	return psprintf("%s/protech_backup", DataDir);
}

/*
 * The backup directory in force: the setting, whose built-in value is
 * default_directory() as computed when the library was loaded; an empty
 * setting means that default too.  Returns a palloc'd string.
 */
char *
protech_backup_resolved_directory(void)
{
	if (protech_backup_directory[0] != '\0')
		return pstrdup(protech_backup_directory);
	return default_directory();
}
