/*-------------------------------------------------------------------------
 *
 * leave_out.c
 *		What a restore leaves out: the extensions that can live in one
 *		database only (pg_cron, whose CREATE EXTENSION refuses every
 *		database but the one cron.database_name names), with the schemas
 *		they created, their objects and the data of their configuration
 *		tables.  Recording them when a backup is taken, deciding when a
 *		restore leaves them out, the notes that say so, and the two filters
 *		that take them out of a dump: the pull stage a plain dump flows
 *		through on its way to psql, and the list a custom or directory
 *		archive is restored with by pg_restore (-L, and -N for the
 *		schemas), which also comments out the entries a selective restore
 *		does not take (selection.c), so that both act on one list.  Built
 *		on child.c and settings.c.
 *
 * Such an extension lives in the backed-up database only, so every dump of
 * that database holds its CREATE EXTENSION, and a restore into any other
 * name (a verification's scratch database, protech_backup_restore() into a
 * new name) would fail on it: "can only create extension in database app".
 * The backup records in its manifest which of its extensions are of that
 * kind (those named in SINGLE_DATABASE_EXTENSIONS) and which schemas they
 * created (their member schemas, pg_cron's cron); a restore into another
 * name than the backed-up database's leaves them out, and says so in its
 * notes; a restore into the same name (a new server) keeps them.
 *
 * A plain dump is SQL: sections, each headed by pg_dump's comment
 *
 *	--
 *	-- Name: job; Type: TABLE DATA; Schema: cron; Owner: postgres
 *	--
 *
 * ("-- Data for Name: ..." for table data).  The filter drops the sections
 * of the extension (Type EXTENSION and Name the extension), of objects
 * about it or its schemas (Schema "-" and Name "EXTENSION x" or
 * "SCHEMA s": its comment, the schemas' ACL), and of everything in its
 * schemas (the data of its configuration tables, the values of its
 * sequences, ACLs), from their header to the next one.  A COPY ... FROM
 * stdin; is followed to its "\." so that a data line is never taken for a
 * header.  In a dropped section, the statements pg_dump prints between
 * sections for the next one (SET default_tablespace, SET SESSION
 * AUTHORIZATION, RESET ..., psql's backslash commands) are kept.  Lines
 * are never held whole: only their first FILTER_HEAD_SIZE bytes are looked
 * at, so a data line of any length streams through.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "nodes/bitmapset.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "child.h"
#include "leave_out.h"
#include "settings.h"

/*
 * The extensions known to refuse every database but one: pg_cron, created
 * only in cron.database_name.  Others (pg_net, which also works in one
 * database, or pgaudit) may be created in any database, so a restore of
 * them succeeds and they are restored.
 */
#define SINGLE_DATABASE_EXTENSIONS "'{pg_cron}'::pg_catalog.name[]"

/*
 * The single-database extensions of the connected database and the
 * schemas they created (member schemas: pg_depend's deptype 'e'), each as
 * a list of quoted identifiers, NULL when there are none.
 */
#define SINGLE_DATABASE_QUERY \
	"SELECT (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(e.extname), " \
	"', ' ORDER BY e.oid) FROM pg_catalog.pg_extension e " \
	"WHERE e.extname OPERATOR(pg_catalog.=) ANY (" SINGLE_DATABASE_EXTENSIONS ")), " \
	"(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(n.nspname), " \
	"', ' ORDER BY n.nspname) FROM pg_catalog.pg_extension e " \
	"JOIN pg_catalog.pg_depend d " \
	"ON d.refobjid OPERATOR(pg_catalog.=) e.oid " \
	"AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass " \
	"AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass " \
	"AND d.deptype OPERATOR(pg_catalog.=) 'e' " \
	"JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) d.objid " \
	"WHERE e.extname OPERATOR(pg_catalog.=) ANY (" SINGLE_DATABASE_EXTENSIONS "))"

/* the first bytes of a line the plain filter looks at */
#define FILTER_HEAD_SIZE 4096
/* the end of the line that starts a COPY's data */
#define COPY_FROM_STDIN " FROM stdin;"

/*
 * Copy the value of column col of the one row of a query into dest, ""
 * when NULL; raises program_limit_exceeded when it does not fit.
 */
static void
copy_name_list(char *dest, int col, const char *what)
{
	char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	if (value == NULL)
		value = "";
	if (strlen(value) >= PROTECH_BACKUP_NAME_LIST_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the %s of the database are longer than the %d bytes a backup records",
						what, PROTECH_BACKUP_NAME_LIST_SIZE - 1)));
	strcpy(dest, value);
}

/*
 * Record in info the extensions of the connected database that can live
 * in it only, and the schemas they created.  Called while describing the
 * database for a backup, connected to SPI.
 */
void
protech_backup_describe_single_database_extensions(ProtechBackupInfo *info)
{
	if (SPI_execute(SINGLE_DATABASE_QUERY, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not list the single-database extensions of the database");
	copy_name_list(info->single_database_extensions, 1,
				   "names of the single-database extensions");
	copy_name_list(info->single_database_schemas, 2,
				   "schemas of the single-database extensions");
}

/*
 * The names of a list of quoted identifiers, as a List of strings.
 */
static List *
name_list(const char *quoted)
{
	List	   *names = NIL;

	if (!SplitIdentifierString(pstrdup(quoted), ',', &names))
		elog(ERROR, "invalid list of names \"%s\" in a manifest", quoted);
	return names;
}

/*
 * Whether a restore of the backup info describes into database target
 * leaves out its single-database extensions: when it has some and target
 * is not the backed-up database's name, in which they can live.
 */
bool
protech_backup_leaves_out(const ProtechBackupInfo *info, const char *target)
{
	return info->single_database_extensions[0] != '\0' &&
		strcmp(target, info->database) != 0;
}

/*
 * Whether a restore into target leaves out the extension named name.
 */
bool
protech_backup_extension_left_out(const ProtechBackupInfo *info,
								  const char *target, const char *name)
{
	ListCell   *lc;

	if (!protech_backup_leaves_out(info, target))
		return false;
	foreach(lc, name_list(info->single_database_extensions))
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/*
 * The schemas a restore into target leaves out, as a List of names (NIL
 * when none).
 */
List *
protech_backup_left_out_schemas(const ProtechBackupInfo *info,
								const char *target)
{
	if (!protech_backup_leaves_out(info, target))
		return NIL;
	return name_list(info->single_database_schemas);
}

/*
 * What a restore into target leaves out, one line each, as a List of
 * strings (NIL when nothing): the notes of protech_backup_restore() and of
 * a verification's result.
 */
List *
protech_backup_left_out_notes(const ProtechBackupInfo *info,
							  const char *target)
{
	List	   *notes = NIL;
	ListCell   *lc;

	if (!protech_backup_leaves_out(info, target))
		return NIL;
	foreach(lc, name_list(info->single_database_extensions))
		notes = lappend(notes,
						psprintf("extension %s left out: it can live only in database %s",
								 quote_identifier(lfirst(lc)),
								 quote_identifier(info->database)));
	foreach(lc, protech_backup_left_out_schemas(info, target))
		notes = lappend(notes,
						psprintf("schema %s left out with its objects and their data: a left-out extension created it",
								 quote_identifier(lfirst(lc))));
	return notes;
}

/*
 * Whether name is one of the strings of list.
 */
static bool
in_list(List *list, const char *name, size_t len)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strlen(lfirst(lc)) == len && strncmp(lfirst(lc), name, len) == 0)
			return true;
	return false;
}

/*
 * Whether an object named what (pg_dump's "EXTENSION x" or "SCHEMA s",
 * len bytes) is a left-out extension or one of its schemas.
 */
static bool
about_left_out(List *extensions, List *schemas, const char *what, size_t len)
{
	ListCell   *lc;

	foreach(lc, extensions)
	{
		char	   *tag = psprintf("EXTENSION %s", quote_identifier(lfirst(lc)));

		if (strlen(tag) == len && strncmp(tag, what, len) == 0)
			return true;
	}
	foreach(lc, schemas)
	{
		char	   *tag = psprintf("SCHEMA %s", quote_identifier(lfirst(lc)));

		if (strlen(tag) == len && strncmp(tag, what, len) == 0)
			return true;
	}
	return false;
}

/*
 * The plain filter: a ProtechBackupSource pulling from another one.
 */
typedef struct DumpFilter
{
	ProtechBackupSource source;
	void	   *source_arg;
	List	   *extensions;		/* left out */
	List	   *schemas;		/* left out */
	StringInfoData piece;		/* pulled from the source */
	int			cursor;			/* what of piece is consumed */
	bool		exhausted;		/* the source has no more */
	/* the current line */
	char		head[FILTER_HEAD_SIZE + 1]; /* room for a NUL */
	int			head_len;
	bool		decided;		/* its head is looked at; keep says */
	bool		keep;
	bool		copy_start;		/* it starts with "COPY " */
	char		tail[sizeof(COPY_FROM_STDIN)];	/* its last bytes */
	int			tail_len;
	/* across lines */
	bool		opener;			/* the line before began a header comment */
	bool		in_copy;		/* inside a COPY's data */
	bool		dropping;		/* inside a section left out */
} DumpFilter;

/*
 * Whether a header line of a plain dump ("-- Name: N; Type: T; Schema: S;
 * Owner: O", len bytes) heads a section that is left out.  A header that
 * does not parse (a name longer than the bytes looked at) is kept.
 */
static bool
section_left_out(DumpFilter *f, const char *line, int len)
{
	const char *end = line + len;
	const char *name = strstr(line, "Name: ");
	const char *type;
	const char *schema;
	const char *schema_end;

	if (name == NULL || name >= end)
		return false;
	name += strlen("Name: ");
	type = strstr(name, "; Type: ");
	if (type == NULL || type >= end)
		return false;
	schema = strstr(type, "; Schema: ");
	if (schema == NULL || schema >= end)
		return false;
	schema_end = strstr(schema, "; Owner: ");
	if (schema_end == NULL || schema_end > end)
		schema_end = end;

	/* the extension itself */
	if (strncmp(type, "; Type: EXTENSION;", strlen("; Type: EXTENSION;")) == 0 &&
		in_list(f->extensions, name, type - name))
		return true;
	schema += strlen("; Schema: ");
	/* an object in one of its schemas */
	if (in_list(f->schemas, schema, schema_end - schema))
		return true;
	/* its comment, the ACL of one of its schemas */
	return schema_end - schema == 1 && *schema == '-' &&
		about_left_out(f->extensions, f->schemas, name, type - name);
}

/*
 * Whether a line starting with line (len bytes) is what pg_dump prints
 * between sections for the next one, which a dropped section keeps.
 */
static bool
session_line(const char *line, int len)
{
	static const char *const starts[] = {"SET ", "RESET ", "\\",
	"SELECT pg_catalog.set_config("};

	for (int i = 0; i < lengthof(starts); i++)
		if (len >= strlen(starts[i]) &&
			strncmp(line, starts[i], strlen(starts[i])) == 0)
			return true;
	return false;
}

#define LINE_IS(line, len, text) \
	((len) == strlen(text) && strncmp((line), (text), (len)) == 0)
#define LINE_STARTS(line, len, text) \
	((len) >= strlen(text) && strncmp((line), (text), strlen(text)) == 0)

/*
 * decide_line's work, on the NUL-terminated head line (len bytes); opener
 * says whether the line before began a header comment.
 */
static void
decide_head(DumpFilter *f, const char *line, int len, bool complete,
			bool opener)
{
	f->decided = true;
	f->copy_start = false;
	f->opener = false;
	if (f->in_copy)
	{
		if (complete && LINE_IS(line, len, "\\."))
			f->in_copy = false;
		f->keep = !f->dropping;
		return;
	}
	if (opener &&
		(LINE_STARTS(line, len, "-- Name: ") ||
		 LINE_STARTS(line, len, "-- Data for Name: ")))
		f->dropping = complete && section_left_out(f, line, len);
	else if (complete)
		f->opener = LINE_IS(line, len, "--") ||
			(opener && (LINE_STARTS(line, len, "-- TOC entry ") ||
						LINE_STARTS(line, len, "-- Dependencies: ")));
	f->copy_start = LINE_STARTS(line, len, "COPY ");
	f->keep = !f->dropping || session_line(line, len);
}

/*
 * Decide the fate of the current line from the first len bytes of its
 * head (the whole line, without its newline, when complete), updating the
 * state that spans lines.
 */
static void
decide_line(DumpFilter *f, int len, bool complete)
{
	char		saved = f->head[len];

	f->head[len] = '\0';
	decide_head(f, f->head, len, complete, f->opener);
	f->head[len] = saved;
}

/*
 * The end of the current line: a COPY ... FROM stdin; starts its data.
 */
static void
end_line(DumpFilter *f)
{
	if (f->copy_start && f->tail_len == strlen(COPY_FROM_STDIN) &&
		memcmp(f->tail, COPY_FROM_STDIN, f->tail_len) == 0)
		f->in_copy = true;
	f->head_len = 0;
	f->tail_len = 0;
	f->decided = false;
	f->copy_start = false;
}

/*
 * Keep the last bytes of the current line (without its newline) in tail.
 */
static void
track_tail(DumpFilter *f, const char *data, int len)
{
	int			room = strlen(COPY_FROM_STDIN);

	if (len >= room)
	{
		memcpy(f->tail, data + len - room, room);
		f->tail_len = room;
		return;
	}
	if (f->tail_len + len > room)
	{
		int			drop = f->tail_len + len - room;

		memmove(f->tail, f->tail + drop, f->tail_len - drop);
		f->tail_len -= drop;
	}
	memcpy(f->tail + f->tail_len, data, len);
	f->tail_len += len;
}

/*
 * Pass the bytes data[0..len) of the current line on to buf when it is
 * kept (its newline, when it holds it, at its end).
 */
static void
pass_line_bytes(DumpFilter *f, StringInfo buf, const char *data, int len,
				bool newline)
{
	if (f->keep)
		appendBinaryStringInfo(buf, data, len);
	track_tail(f, data, newline ? len - 1 : len);
	if (newline)
		end_line(f);
}

/*
 * Filter one piece of input into buf.
 */
static void
filter_piece(DumpFilter *f, StringInfo buf)
{
	while (f->cursor < f->piece.len)
	{
		const char *data = f->piece.data + f->cursor;
		int			left = f->piece.len - f->cursor;
		const char *nl = memchr(data, '\n', left);
		int			len = nl ? nl - data + 1 : left;

		if (f->decided)
		{
			pass_line_bytes(f, buf, data, len, nl != NULL);
			f->cursor += len;
			continue;
		}
		/* the head: up to its newline or FILTER_HEAD_SIZE bytes */
		len = Min(len, FILTER_HEAD_SIZE - f->head_len);
		memcpy(f->head + f->head_len, data, len);
		f->head_len += len;
		f->cursor += len;
		if (f->head[f->head_len - 1] == '\n')
		{
			decide_line(f, f->head_len - 1, true);
			pass_line_bytes(f, buf, f->head, f->head_len, true);
		}
		else if (f->head_len == FILTER_HEAD_SIZE)
		{
			decide_line(f, f->head_len, false);
			pass_line_bytes(f, buf, f->head, f->head_len, false);
		}
	}
}

/*
 * The plain filter's ProtechBackupSource: the next kept bytes into buf.
 */
bool
protech_backup_dump_filter_read(StringInfo buf, void *arg)
{
	DumpFilter *f = (DumpFilter *) arg;

	if (f->exhausted)
		return false;
	resetStringInfo(&f->piece);
	f->cursor = 0;
	if (!f->source(&f->piece, f->source_arg))
	{
		f->exhausted = true;
		filter_piece(f, buf);
		/* a last line without a newline */
		if (!f->decided && f->head_len > 0)
		{
			decide_line(f, f->head_len, true);
			pass_line_bytes(f, buf, f->head, f->head_len, false);
		}
		return buf->len > 0;
	}
	filter_piece(f, buf);
	return true;
}

/*
 * A plain filter for a restore of the backup info describes into target,
 * pulling from source: the argument of protech_backup_dump_filter_read.
 */
void *
protech_backup_dump_filter(const ProtechBackupInfo *info, const char *target,
						   ProtechBackupSource source, void *source_arg)
{
	DumpFilter *f = palloc0(sizeof(DumpFilter));

	f->source = source;
	f->source_arg = source_arg;
	f->extensions = name_list(info->single_database_extensions);
	f->schemas = protech_backup_left_out_schemas(info, target);
	initStringInfo(&f->piece);
	return f;
}

/*
 * Whether a line of pg_restore --list ("ID; TABLEOID OID DESC SCHEMA NAME
 * OWNER") is a left-out extension, or an object without a schema about it
 * or one of its schemas (its comment, a schema's ACL); the objects in its
 * schemas are left out by pg_restore's -N.
 */
static bool
list_entry_left_out(const char *line, List *extensions, List *schemas)
{
	const char *rest = strchr(line, ';');
	ListCell   *lc;

	if (line[0] == ';' || rest == NULL)
		return false;
	/* past "; TABLEOID OID " */
	for (int spaces = 0; *rest && spaces < 3; rest++)
		if (*rest == ' ')
			spaces++;
	foreach(lc, extensions)
	{
		if (LINE_STARTS(rest, strlen(rest),
						psprintf("EXTENSION - %s ", (char *) lfirst(lc))) ||
			strstr(rest, psprintf(" - EXTENSION %s ",
								  quote_identifier(lfirst(lc)))))
			return true;
	}
	foreach(lc, schemas)
		if (strstr(rest, psprintf(" - SCHEMA %s ", quote_identifier(lfirst(lc)))))
			return true;
	return false;
}

/*
 * Whether a line of pg_restore --list is an entry that a selective
 * restore (when selective) does not take: its dump id (the "ID;" it
 * starts with, all that pg_restore reads of it) is not one of wanted
 * (NULL when the selection took nothing).
 */
static bool
list_entry_unwanted(const char *line, bool selective, const Bitmapset *wanted)
{
	char	   *end;
	long		id;

	if (!selective || line[0] == ';' || line[0] == '\0')
		return false;
	id = strtol(line, &end, 10);
	return *end == ';' && id > 0 && id <= PG_INT32_MAX &&
		!bms_is_member((int) id, wanted);
}

/*
 * The list a custom or directory archive is restored with: pg_restore
 * --list of it, run as argv says with its standard input from source
 * (when not NULL), the entries of the extensions a restore into target
 * leaves out commented out, and, when selective, those a selective
 * restore does not take (not in wanted: see selection.c), written to a new
 * temporary file, which the caller closes (FileClose removes it; so does
 * the end of the process).  One list for both, as pg_restore takes one.
 * Returns its path, *file the temporary file; false with *problem when
 * pg_restore --list failed.
 */
bool
protech_backup_restore_list(const ProtechBackupInfo *info, const char *target,
							bool selective, const Bitmapset *wanted,
							const char *const *argv, const char *const *envp,
							ProtechBackupSource source, void *source_arg,
							char **path, File *file, char **problem)
{
	StringInfoData list;
	StringInfoData filtered;
	StringInfoData output;
	List	   *extensions = name_list(info->single_database_extensions);
	List	   *schemas = protech_backup_left_out_schemas(info, target);
	int			status;
	char	   *line;

	initStringInfo(&list);
	initStringInfo(&output);
	status = protech_backup_run_child("pg_restore", argv, envp, source,
									  source_arg, protech_backup_collect_output,
									  &list, &output, protech_backup_timeout);
	if (status != 0)
	{
		*problem = psprintf("pg_restore --list failed (%s) and printed:\n%s",
							wait_result_to_str(status),
							protech_backup_last_lines(&output, 10));
		return false;
	}

	initStringInfo(&filtered);
	for (line = list.data; *line;)
	{
		char	   *end = strchr(line, '\n');

		if (end)
			*end = '\0';
		appendStringInfo(&filtered, "%s%s\n",
						 list_entry_left_out(line, extensions, schemas) ||
						 list_entry_unwanted(line, selective, wanted) ? ";" : "",
						 line);
		if (!end)
			break;
		line = end + 1;
	}

	/* a file of the process, not the transaction: a worker may have none */
	*file = OpenTemporaryFile(true);
	if (FileWrite(*file, filtered.data, filtered.len, 0,
				  WAIT_EVENT_DATA_FILE_WRITE) != filtered.len)
	{
		int			save_errno = errno;

		FileClose(*file);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write a temporary file: %m")));
	}
	*path = FilePathName(*file)[0] == '/' ? pstrdup(FilePathName(*file)) :
		psprintf("%s/%s", DataDir, FilePathName(*file));
	return true;
}
