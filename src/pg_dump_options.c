/*-------------------------------------------------------------------------
 *
 * pg_dump_options.c
 *		The parser of protech_backup.pg_dump_options: the value split into
 *		words the way a shell would split it, without any expansion, and
 *		checked so that no word chooses what this extension chooses (the
 *		output, the format, the compression, the jobs, the connection).  A
 *		leaf module: the setting's check hook (settings.c) calls it once per
 *		value, and pg_dump's command line (pg_dump.c) uses the words it kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "pg_dump_options.h"

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
