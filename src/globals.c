/*-------------------------------------------------------------------------
 *
 * globals.c
 *		Give this server the roles and tablespaces of a backup that it does
 *		not have yet, from the backup's globals file (pg_dumpall
 *		--globals-only), leaving those it has as they are: what
 *		protech_backup_restore(..., restore_globals => true) does before it
 *		creates the database.  Built on stream.c (the file is read through
 *		the reader the caller opens, decrypting an encrypted one),
 *		programs.c and child.c.
 *
 * The globals file is split into its statements (pg_dumpall writes one
 * per line, but a literal, a comment on a role say, may hold newlines and
 * anything else: the splitter follows '...', E'...' and "..." quoting);
 * a statement about a role or a tablespace that exists on this server
 * (CREATE, ALTER, COMMENT ON, SECURITY LABEL ... ON ROLE/TABLESPACE, and
 * GRANT/REVOKE ... ON TABLESPACE) is left out, and the role or tablespace
 * named in a note; everything else (the SETs, the memberships, psql's
 * \restrict lines) is kept, and psql runs the rest with ON_ERROR_STOP, as
 * protech_backup.role.  Nothing is ever rewritten: statements are kept or
 * left out whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/tablespace.h"
#include "utils/acl.h"

#include "child.h"
#include "globals.h"
#include "programs.h"
#include "settings.h"
#include "stream.h"

/* lines of psql's output quoted when creating the globals fails */
#define GLOBALS_FAILURE_LINES 10

/* the input of psql: a script handed over once */
typedef struct ScriptSource
{
	StringInfo	script;
	bool		sent;
} ScriptSource;

/*
 * Everything reader gives (the globals file, decrypted when it is
 * encrypted), NUL-terminated.
 */
static StringInfo
read_whole(ProtechBackupStreamReader *reader)
{
	StringInfo	contents = makeStringInfo();
	StringInfoData piece;

	initStringInfo(&piece);
	while (protech_backup_stream_read(&piece, reader))
	{
		appendBinaryStringInfo(contents, piece.data, piece.len);
		resetStringInfo(&piece);
	}
	return contents;
}

/*
 * The end of the statement that starts at start: just after its ';' outside
 * quotes, or the end of the text.  Quotes: '...' (standard strings, ''
 * doubled), E'...' (backslash escapes too) and "..." ("" doubled).
 */
static const char *
statement_end(const char *start)
{
	const char *p = start;

	while (*p)
	{
		if (*p == ';')
			return p + 1;
		if (*p == '\'' || *p == '"')
		{
			char		quote = *p;
			bool		escapes = quote == '\'' && p > start &&
				(p[-1] == 'E' || p[-1] == 'e');

			for (p++; *p; p++)
			{
				if (escapes && *p == '\\' && p[1] != '\0')
					p++;
				else if (*p == quote)
				{
					if (p[1] != quote)
						break;
					p++;
				}
			}
			if (*p == '\0')
				return p;
		}
		p++;
	}
	return p;
}

/*
 * Read the next word of a statement at *p into word (at most NAMEDATALEN
 * bytes): a "quoted" identifier unquoted, or a run of identifier
 * characters; empty at anything else.  Advances *p past it.
 */
static void
next_word(const char **p, char *word)
{
	int			len = 0;

	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
	if (**p == '"')
	{
		for ((*p)++; **p; (*p)++)
		{
			if (**p == '"')
			{
				if ((*p)[1] != '"')
				{
					(*p)++;
					break;
				}
				(*p)++;
			}
			if (len < NAMEDATALEN - 1)
				word[len++] = **p;
		}
	}
	else
		while (**p && (isalnum((unsigned char) **p) || **p == '_' || **p == '$'))
		{
			if (len < NAMEDATALEN - 1)
				word[len++] = **p;
			(*p)++;
		}
	word[len] = '\0';
}

/*
 * The role or tablespace that the statement stmt is about, as
 * *kind ("role" or "tablespace") and name, when it is one that this
 * module leaves out for an existing object: CREATE/ALTER ROLE|TABLESPACE
 * x, COMMENT ON ROLE|TABLESPACE x, SECURITY LABEL [FOR p] ON
 * ROLE|TABLESPACE x, GRANT/REVOKE ... ON TABLESPACE x.  False otherwise.
 */
static bool
statement_object(const char *stmt, const char **kind, char *name)
{
	char		word[NAMEDATALEN];
	const char *p = stmt;

	next_word(&p, word);
	if (pg_strcasecmp(word, "CREATE") == 0 || pg_strcasecmp(word, "ALTER") == 0)
		next_word(&p, word);
	else if (pg_strcasecmp(word, "COMMENT") == 0)
	{
		next_word(&p, word);	/* ON */
		next_word(&p, word);
	}
	else if (pg_strcasecmp(word, "SECURITY") == 0)
	{
		next_word(&p, word);	/* LABEL */
		next_word(&p, word);
		if (pg_strcasecmp(word, "FOR") == 0)
		{
			next_word(&p, word);	/* the provider */
			next_word(&p, word);	/* ON */
		}
		next_word(&p, word);
	}
	else if (pg_strcasecmp(word, "GRANT") == 0 || pg_strcasecmp(word, "REVOKE") == 0)
	{
		/* the privileges are words and commas, up to ON (none: a membership) */
		do
		{
			while (*p == ',' || *p == ' ')
				p++;
			next_word(&p, word);
		} while (word[0] != '\0' && pg_strcasecmp(word, "ON") != 0);
		if (word[0] == '\0')
			return false;
		next_word(&p, word);
		if (pg_strcasecmp(word, "TABLESPACE") != 0)
			return false;
	}
	else
		return false;

	if (pg_strcasecmp(word, "ROLE") == 0)
		*kind = "role";
	else if (pg_strcasecmp(word, "TABLESPACE") == 0)
		*kind = "tablespace";
	else
		return false;
	next_word(&p, name);
	return name[0] != '\0';
}

/*
 * The next piece of psql's input: the whole script, once.  A
 * ProtechBackupSource.
 */
static bool
script_read(StringInfo buf, void *arg)
{
	ScriptSource *source = (ScriptSource *) arg;

	if (source->sent)
		return false;
	appendBinaryStringInfo(buf, source->script->data, source->script->len);
	source->sent = true;
	return true;
}

/*
 * Create, from the globals file reader reads (protech_backup_stored_reader:
 * decrypted when encrypted), the roles and tablespaces this server does
 * not have (see the file header), with psql as envp says.
 * Appends to *notes one line for each role or tablespace that existed and
 * was left as it is.  Returns true, or false with *problem saying what
 * psql printed.
 */
bool
protech_backup_restore_missing_globals(ProtechBackupStreamReader *reader,
									   const char *const *envp,
									   List **notes, char **problem)
{
	StringInfo	globals = read_whole(reader);
	StringInfoData script;
	StringInfoData output;
	List	   *kept_as_is = NIL;
	ScriptSource source = {0};
	const char *argv[PROTECH_BACKUP_PSQL_OPTIONS + 4];
	int			argc = protech_backup_psql_options(argv, false);
	int			status;

	initStringInfo(&script);
	for (const char *p = globals->data; *p;)
	{
		const char *end;
		const char *kind;
		char		name[NAMEDATALEN];
		bool		exists;

		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		{
			p++;
			continue;
		}
		if (*p == '\\' || (p[0] == '-' && p[1] == '-'))
		{
			/* a psql meta-command is kept, a comment left out: whole lines */
			end = strchrnul(p, '\n');
			if (*p == '\\')
				appendStringInfo(&script, "%.*s\n", (int) (end - p), p);
			p = end;
			continue;
		}
		end = statement_end(p);
		if (statement_object(pnstrdup(p, end - p), &kind, name))
		{
			exists = strcmp(kind, "role") == 0 ?
				OidIsValid(get_role_oid(name, true)) :
				OidIsValid(get_tablespace_oid(name, true));
			if (exists)
			{
				char	   *note = psprintf("%s \"%s\" existed already: left as it is",
											kind, name);

				if (!list_member(kept_as_is, makeString(note)))
				{
					kept_as_is = lappend(kept_as_is, makeString(note));
					*notes = lappend(*notes, note);
				}
				p = end;
				continue;
			}
		}
		appendStringInfo(&script, "%.*s\n", (int) (end - p), p);
		p = end;
	}

	source.script = &script;
	argv[argc++] = "--output=/dev/null";
	argv[argc++] = "-f";
	argv[argc++] = "-";
	argv[argc] = NULL;
	initStringInfo(&output);
	status = protech_backup_run_child("psql", argv, envp, script_read, &source,
									  NULL, NULL, &output,
									  protech_backup_timeout);
	if (status == 0)
		return true;
	*problem = psprintf("creating the backup's roles and tablespaces failed: psql %s and printed:\n%s",
						wait_result_to_str(status),
						protech_backup_last_lines(&output, GLOBALS_FAILURE_LINES));
	return false;
}
