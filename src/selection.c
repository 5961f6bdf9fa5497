/*-------------------------------------------------------------------------
 *
 * selection.c
 *		A selective restore (protech_backup_restore()'s tables and
 *		schemas): which entries of a custom or directory archive's table of
 *		contents (archive_toc.c) restoring some of its tables and schemas
 *		takes, as the dump ids pg_restore's -L list keeps (leave_out.c
 *		writes that one list), and the notes saying what was restored,
 *		what came with it and what was left out.  Names that are not in
 *		the backup are errors, raised before anything is done.  Built on
 *		archive_toc.c.
 *
 * The entries are taken in three ways:
 *	- chosen: each table named (a TABLE, VIEW, MATERIALIZED VIEW or
 *	  FOREIGN TABLE entry: 'schema.table', or a bare 'table' matching it
 *	  in any one schema) and the partitions of a partitioned one, each
 *	  schema named (its SCHEMA entry and every entry whose schema it is);
 *	- attached: what belongs to a taken entry (its data, indexes,
 *	  constraints, defaults, triggers, policies, rules, statistics, owned
 *	  and identity sequences with their values, comments, ACLs, security
 *	  labels: the ATTACHED_KINDS), taken when one of its dependencies is
 *	  a chosen or attached entry (or a needed one not a schema; any for a
 *	  comment, ACL or label; its schema for one in a chosen schema), and
 *	  every other dependency is taken or can be needed;
 *	- needed: what a taken entry depends on that is not a table nor
 *	  attached to one (a schema, type, domain, function, collation,
 *	  extension, a sequence that no table owns...), with what it depends
 *	  on in turn, so that a chosen table comes with its schema, the types
 *	  of its columns and its trigger functions.
 * What an attached entry needs but is not taken (a foreign key to a table
 * not chosen, a partition's attachment to a parent not chosen) leaves it
 * out, with a note naming it and what it needs.  A chosen entry that needs
 * a table not chosen (a view over it, a child of an inherited table) is
 * restored anyway, and pg_restore's error says what it lacks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "selection.h"

/* how an entry is taken */
typedef enum EntryState
{
	ENTRY_NOT_TAKEN = 0,
	ENTRY_CHOSEN,
	ENTRY_ATTACHED,
	ENTRY_NEEDED,
} EntryState;

/* the state of one selection */
typedef struct Selection
{
	const ProtechBackupToc *toc;
	int		   *index;			/* dump id -> entry index, -1 when none */
	EntryState *state;
	bool	   *in_chosen_schema;
	bool	   *visiting;		/* of needable(), against cycles */
} Selection;

/* the kinds of entry that are tables */
static const char *const RELATION_KINDS[] = {
	"TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE", NULL
};

/* the kinds of entry that belong to another one (see the file header) */
static const char *const ATTACHED_KINDS[] = {
	"TABLE DATA", "MATERIALIZED VIEW DATA", "INDEX", "INDEX ATTACH",
	"TABLE ATTACH", "CONSTRAINT", "CHECK CONSTRAINT", "FK CONSTRAINT",
	"DEFAULT", "TRIGGER", "POLICY", "ROW SECURITY", "RULE", "STATISTICS",
	"SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET", "PUBLICATION TABLE",
	"COMMENT", "ACL", "SECURITY LABEL", NULL
};

/* the attached kinds that any taken entry may have */
static const char *const LABEL_KINDS[] = {
	"COMMENT", "ACL", "SECURITY LABEL", NULL
};

/*
 * Whether desc is one of the NULL-ended kinds.
 */
static bool
kind_in(const char *desc, const char *const *kinds)
{
	for (int i = 0; kinds[i]; i++)
		if (strcmp(desc, kinds[i]) == 0)
			return true;
	return false;
}

/*
 * Whether an entry of kind desc may be taken as needed: neither a table
 * nor attached to one, but a sequence (one no table owns, which a default
 * uses).
 */
static bool
needable_kind(const char *desc)
{
	return strcmp(desc, "SEQUENCE") == 0 ||
		(!kind_in(desc, RELATION_KINDS) && !kind_in(desc, ATTACHED_KINDS));
}

/*
 * The entry of dump id, NULL when the archive has none (a dependency on
 * what pg_dump did not dump).
 */
static const ProtechBackupTocEntry *
entry_of(const Selection *s, int dump_id, int *i)
{
	if (dump_id <= 0 || dump_id > s->toc->max_dump_id || s->index[dump_id] < 0)
		return NULL;
	*i = s->index[dump_id];
	return &s->toc->entries[*i];
}

/*
 * Whether entry i is taken, or may be taken as needed with everything it
 * depends on.
 */
static bool
needable(Selection *s, int i)
{
	const ProtechBackupTocEntry *entry = &s->toc->entries[i];
	bool		ok = true;

	if (s->state[i] != ENTRY_NOT_TAKEN || s->visiting[i])
		return true;
	if (!needable_kind(entry->desc))
		return false;
	s->visiting[i] = true;
	for (int d = 0; ok && d < entry->ndeps; d++)
	{
		int			j;

		if (entry_of(s, entry->deps[d], &j))
			ok = needable(s, j);
	}
	s->visiting[i] = false;
	return ok;
}

/*
 * Take what entry i depends on that may be taken as needed (see
 * needable), and what that depends on.
 */
static void
take_needs(Selection *s, int i)
{
	const ProtechBackupTocEntry *entry = &s->toc->entries[i];

	for (int d = 0; d < entry->ndeps; d++)
	{
		int			j;

		if (entry_of(s, entry->deps[d], &j) &&
			s->state[j] == ENTRY_NOT_TAKEN && needable(s, j))
		{
			s->state[j] = ENTRY_NEEDED;
			take_needs(s, j);
		}
	}
}

/*
 * Whether entry i depends on a chosen or attached entry: it belongs to
 * what the selection restores.
 */
static bool
belongs_to_restored(const Selection *s, int i)
{
	const ProtechBackupTocEntry *entry = &s->toc->entries[i];

	if (s->in_chosen_schema[i])
		return true;
	for (int d = 0; d < entry->ndeps; d++)
	{
		int			j;

		if (entry_of(s, entry->deps[d], &j) &&
			(s->state[j] == ENTRY_CHOSEN || s->state[j] == ENTRY_ATTACHED))
			return true;
	}
	return false;
}

/*
 * Whether the attached entry i may be taken now: it belongs to what is
 * restored (a comment, ACL or label to anything taken; another kind also
 * to a needed entry that is no schema), and every dependency is taken or
 * needable.
 */
static bool
attachable(Selection *s, int i)
{
	const ProtechBackupTocEntry *entry = &s->toc->entries[i];
	bool		label = kind_in(entry->desc, LABEL_KINDS);
	bool		anchored = belongs_to_restored(s, i);

	for (int d = 0; d < entry->ndeps; d++)
	{
		int			j;

		if (!entry_of(s, entry->deps[d], &j))
			continue;
		if (!needable(s, j))
			return false;
		if (s->state[j] == ENTRY_NEEDED &&
			(label || strcmp(s->toc->entries[j].desc, "SCHEMA") != 0))
			anchored = true;
	}
	return anchored;
}

/*
 * The name of entry i for a note: its kind in lower case and its name,
 * schema-qualified.
 */
static char *
entry_name(const Selection *s, int i)
{
	const ProtechBackupTocEntry *entry = &s->toc->entries[i];
	char	   *desc = pstrdup(entry->desc);

	for (char *c = desc; *c; c++)
		*c = pg_ascii_tolower((unsigned char) *c);
	if (entry->namespace[0] == '\0' || strcmp(entry->desc, "SCHEMA") == 0)
		return psprintf("%s %s", desc, quote_identifier(entry->tag));
	if (kind_in(entry->desc, RELATION_KINDS))
		return psprintf("%s %s", desc,
						quote_qualified_identifier(entry->namespace, entry->tag));
	return psprintf("%s %s.%s", desc, quote_identifier(entry->namespace),
					entry->tag);
}

/*
 * The first table that entry i needs and that is not restored (through
 * what it depends on), or -1.
 */
static int
missing_table(Selection *s, int i, int depth)
{
	const ProtechBackupTocEntry *entry = &s->toc->entries[i];

	for (int d = 0; depth < 8 && d < entry->ndeps; d++)
	{
		int			j;
		int			found;

		if (!entry_of(s, entry->deps[d], &j) || s->state[j] != ENTRY_NOT_TAKEN)
			continue;
		if (kind_in(s->toc->entries[j].desc, RELATION_KINDS))
			return j;
		if ((found = missing_table(s, j, depth + 1)) >= 0)
			return found;
	}
	return -1;
}

/*
 * The note saying that attached entry i, which belongs to what is
 * restored, is left out, and what it lacks.  A foreign key is named by its
 * constraint name and its table (its tag is "table constraint").
 */
static char *
left_out_note(Selection *s, int i)
{
	const ProtechBackupTocEntry *entry = &s->toc->entries[i];
	int			missing = missing_table(s, i, 0);
	const char *lacks = missing >= 0 ? entry_name(s, missing) :
		"an object that is not restored";

	if (strcmp(entry->desc, "FK CONSTRAINT") == 0)
	{
		for (int d = 0; d < entry->ndeps; d++)
		{
			int			j;
			const ProtechBackupTocEntry *table;
			size_t		len;

			if (!entry_of(s, entry->deps[d], &j) || s->state[j] == ENTRY_NOT_TAKEN)
				continue;
			table = &s->toc->entries[j];
			len = strlen(table->tag);
			if (kind_in(table->desc, RELATION_KINDS) &&
				strncmp(entry->tag, table->tag, len) == 0 &&
				entry->tag[len] == ' ')
				return psprintf("foreign key %s of %s left out: it references %s, which is not restored",
								quote_identifier(entry->tag + len + 1),
								entry_name(s, j), lacks);
		}
	}
	return psprintf("%s left out: it needs %s, which is not restored",
					entry_name(s, i), lacks);
}

/*
 * The name of a requested table or schema (what), given, parsed as SQL
 * identifiers separated by dots (SplitIdentifierString, as
 * stringToQualifiedNameList does: quoted, or folded to lower case): a
 * List of one (a schema, a bare table) or two (schema and table) strings;
 * invalid syntax, or more than most, is refused naming it.
 */
static List *
parse_name(const char *given, const char *what, int most)
{
	List	   *name = NIL;

	if (!SplitIdentifierString(pstrdup(given), '.', &name) || name == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s name \"%s\" is not a valid SQL name", what, given),
				 errhint("Quote a name holding spaces, dots, quotes or capitals with double quotes, doubling its quotes: ARRAY['\"odd schema\".\"my \"\"t\"\" able\"'].")));
	if (list_length(name) > most)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s name \"%s\" has too many dotted names",
						what, given),
				 errhint(most == 1 ?
						 "Name a schema alone; quote a name holding a dot with double quotes." :
						 "Name a table as schema.table or table; quote a name holding a dot with double quotes.")));
	return name;
}

/*
 * Choose the table given (a requested name) in the selection, raising an
 * error when the backup does not have it, or when a bare name matches it
 * in several schemas.  Appends its name, quoted, to *chosen.
 */
static void
choose_table(Selection *s, const char *given, const char *file_name,
			 StringInfo chosen)
{
	List	   *name = parse_name(given, "table", 2);
	const char *schema = list_length(name) == 2 ? linitial(name) : NULL;
	const char *table = llast(name);
	StringInfoData matches;
	int			count = 0;
	int			match = -1;

	initStringInfo(&matches);
	for (int i = 0; i < s->toc->count; i++)
	{
		const ProtechBackupTocEntry *entry = &s->toc->entries[i];

		if (!kind_in(entry->desc, RELATION_KINDS) ||
			strcmp(entry->tag, table) != 0 ||
			(schema && strcmp(entry->namespace, schema) != 0))
			continue;
		appendStringInfo(&matches, "%s%s", count ? ", " : "",
						 quote_qualified_identifier(entry->namespace, entry->tag));
		count++;
		match = i;
	}
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" is not in backup \"%s\"",
						given, file_name),
				 errdetail("The backup has no table, view, materialized view or foreign table %s.",
						   schema ? quote_qualified_identifier(schema, table) :
						   quote_identifier(table)),
				 errhint("Name a table as schema.table, with double quotes where SQL needs them; pg_restore --list shows what a backup holds.")));
	if (count > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table name \"%s\" is ambiguous in backup \"%s\"",
						given, file_name),
				 errdetail("It matches %s.", matches.data),
				 errhint("Qualify the name with its schema.")));
	if (s->state[match] == ENTRY_NOT_TAKEN)
		appendStringInfo(chosen, "%s%s", chosen->len ? ", " : "",
						 quote_qualified_identifier(s->toc->entries[match].namespace,
													table));
	s->state[match] = ENTRY_CHOSEN;
}

/*
 * Choose the partitions of the chosen partitioned tables, and theirs in
 * turn: the partition each TABLE ATTACH entry attaches (the table it
 * depends on of its own schema and name) to a chosen parent (the other
 * table it depends on).  Appends their names, quoted, to *partitions.
 */
static void
choose_partitions(Selection *s, StringInfo partitions)
{
	bool		changed = true;

	while (changed)
	{
		changed = false;
		for (int i = 0; i < s->toc->count; i++)
		{
			const ProtechBackupTocEntry *attach = &s->toc->entries[i];
			int			partition = -1;
			bool		parent_chosen = false;

			if (strcmp(attach->desc, "TABLE ATTACH") != 0)
				continue;
			for (int d = 0; d < attach->ndeps; d++)
			{
				const ProtechBackupTocEntry *table;
				int			j;

				if (!(table = entry_of(s, attach->deps[d], &j)) ||
					!kind_in(table->desc, RELATION_KINDS))
					continue;
				if (strcmp(table->namespace, attach->namespace) == 0 &&
					strcmp(table->tag, attach->tag) == 0)
					partition = j;
				else if (s->state[j] == ENTRY_CHOSEN)
					parent_chosen = true;
			}
			if (partition < 0 || !parent_chosen ||
				s->state[partition] != ENTRY_NOT_TAKEN)
				continue;
			s->state[partition] = ENTRY_CHOSEN;
			appendStringInfo(partitions, "%s%s", partitions->len ? ", " : "",
							 quote_qualified_identifier(attach->namespace,
														attach->tag));
			changed = true;
		}
	}
}

/*
 * Choose the schema given (a requested name): its SCHEMA entry, and the
 * entries in it (those of an attached kind then attach to them); an error
 * when the backup has nothing of it.  Appends its name, quoted, to
 * *chosen.
 */
static void
choose_schema(Selection *s, const char *given, const char *file_name,
			  StringInfo chosen)
{
	const char *schema = linitial(parse_name(given, "schema", 1));
	bool		found = false;

	for (int i = 0; i < s->toc->count; i++)
	{
		const ProtechBackupTocEntry *entry = &s->toc->entries[i];

		if (strcmp(entry->desc, "SCHEMA") == 0 &&
			strcmp(entry->tag, schema) == 0)
			s->state[i] = ENTRY_CHOSEN;
		else if (strcmp(entry->namespace, schema) == 0)
		{
			if (kind_in(entry->desc, ATTACHED_KINDS))
				s->in_chosen_schema[i] = true;
			else
				s->state[i] = ENTRY_CHOSEN;
		}
		else
			continue;
		found = true;
	}
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_SCHEMA_NAME),
				 errmsg("schema \"%s\" is not in backup \"%s\"",
						given, file_name),
				 errdetail("The backup has no schema %s, nor anything in one of that name.",
						   quote_identifier(schema)),
				 errhint("Name a schema with double quotes where SQL needs them; pg_restore --list shows what a backup holds.")));
	appendStringInfo(chosen, "%s%s", chosen->len ? ", " : "",
					 quote_identifier(schema));
}

/*
 * The entries of toc (of backup file_name) that restoring the tables and
 * schemas named (Lists of strings as the caller gave them, either NIL)
 * takes, as the file header says: their dump ids, and the names of the
 * extensions among them (those the restore creates first); appends to
 * *notes, one line each, what is restored, what came with it, and what
 * was left out.  Raises an error for a name the backup does not have, or
 * an ambiguous one, before anything is done.
 */
ProtechBackupSelection *
protech_backup_select_entries(const ProtechBackupToc *toc,
							  const char *file_name, List *tables,
							  List *schemas, List **notes)
{
	Selection	s = {.toc = toc};
	StringInfoData chosen_tables;
	StringInfoData chosen_schemas;
	StringInfoData needed;
	StringInfoData partitions;
	ProtechBackupSelection *selection = palloc0(sizeof(ProtechBackupSelection));
	List	   *left_out = NIL;
	bool		changed = true;
	ListCell   *lc;

	s.index = palloc(sizeof(int) * (toc->max_dump_id + 1));
	for (int id = 0; id <= toc->max_dump_id; id++)
		s.index[id] = -1;
	for (int i = 0; i < toc->count; i++)
		s.index[toc->entries[i].dump_id] = i;
	s.state = palloc0(sizeof(EntryState) * Max(toc->count, 1));
	s.in_chosen_schema = palloc0(sizeof(bool) * Max(toc->count, 1));
	s.visiting = palloc0(sizeof(bool) * Max(toc->count, 1));

	initStringInfo(&chosen_tables);
	initStringInfo(&chosen_schemas);
	foreach(lc, tables)
		choose_table(&s, lfirst(lc), file_name, &chosen_tables);
	foreach(lc, schemas)
		choose_schema(&s, lfirst(lc), file_name, &chosen_schemas);
	initStringInfo(&partitions);
	choose_partitions(&s, &partitions);

	for (int i = 0; i < toc->count; i++)
		if (s.state[i] == ENTRY_CHOSEN)
			take_needs(&s, i);
	/* attach until nothing more attaches: one may need another */
	while (changed)
	{
		changed = false;
		for (int i = 0; i < toc->count; i++)
		{
			if (s.state[i] != ENTRY_NOT_TAKEN ||
				!kind_in(toc->entries[i].desc, ATTACHED_KINDS) ||
				!attachable(&s, i))
				continue;
			s.state[i] = ENTRY_ATTACHED;
			take_needs(&s, i);
			changed = true;
		}
	}

	initStringInfo(&needed);
	for (int i = 0; i < toc->count; i++)
	{
		if (s.state[i] != ENTRY_NOT_TAKEN)
			selection->wanted = bms_add_member(selection->wanted,
											   toc->entries[i].dump_id);
		if (s.state[i] != ENTRY_NOT_TAKEN &&
			strcmp(toc->entries[i].desc, "EXTENSION") == 0)
			selection->extensions = lappend(selection->extensions,
											toc->entries[i].tag);
		if (s.state[i] == ENTRY_NEEDED)
			appendStringInfo(&needed, "%s%s", needed.len ? ", " : "",
							 entry_name(&s, i));
		else if (s.state[i] == ENTRY_NOT_TAKEN &&
				 kind_in(toc->entries[i].desc, ATTACHED_KINDS) &&
				 belongs_to_restored(&s, i))
			left_out = lappend(left_out, left_out_note(&s, i));
	}
	*notes = lappend(*notes,
					 psprintf("selective restore: %s%s%s%s%s",
							  chosen_tables.len ? "tables " : "",
							  chosen_tables.data,
							  chosen_tables.len && chosen_schemas.len ? "; " : "",
							  chosen_schemas.len ? "schemas " : "",
							  chosen_schemas.data));
	if (partitions.len > 0)
		*notes = lappend(*notes,
						 psprintf("partitions restored with their tables: %s",
								  partitions.data));
	if (needed.len > 0)
		*notes = lappend(*notes,
						 psprintf("restored with them, as they need it: %s",
								  needed.data));
	*notes = list_concat(*notes, left_out);
	return selection;
}

/*
 * Whether a restore with selection (NULL: the whole backup) takes the
 * extension named name.
 */
bool
protech_backup_selection_has_extension(const ProtechBackupSelection *selection,
									   const char *name)
{
	ListCell   *lc;

	if (selection == NULL)
		return true;
	foreach(lc, selection->extensions)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}
