/*-------------------------------------------------------------------------
 *
 * archive_toc.c
 *		Read the table of contents of a pg_dump archive of the custom or
 *		directory format: for each entry its dump id, kind, schema, name
 *		and the dump ids it depends on, which pg_restore --list does not
 *		print (and prints ambiguously: unquoted names with spaces).  What
 *		a selective restore (selection.c) chooses its entries from.  Built
 *		on child.h (the pull source type).
 *
 * Both formats start with the same header and table of contents, as
 * pg_dump's pg_backup_archiver.c writes them (WriteHead, WriteToc): a
 * custom archive at the start of its file, a directory archive in its
 * toc.dat.  The header is "PGDMP", the archive version (three bytes), the
 * size of an integer and of an offset, the format, the compression (an
 * integer, up to version 1.14), the creation time (seven integers), the
 * database name and two version strings.  An integer is a sign byte and
 * intSize bytes, least significant first; a string is its length as an
 * integer (-1 for none) and its bytes.  Then the number of entries, and
 * each entry: dumpId, hadDumper, tableoid, oid, tag, desc, section, defn,
 * dropStmt, copyStmt, namespace, tablespace, tableam (from 1.14), owner,
 * withOids, its dependencies (strings, ended by none), and what the format
 * adds: an offset (a flag byte and offSize bytes) in a custom archive, a
 * file name in a directory archive (whose toc.dat gives tar as its format:
 * they share their table of contents).  Only the versions pg_dump 9.0 to 15
 * write (1.12 to 1.14, with the same layout but tableam) are read; others
 * are refused by name.  Reading stops where the table of contents ends:
 * the caller closes its source (for an encrypted or compressed backup, a
 * reader whose age child is then killed).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "archive_toc.h"

/* archive versions, as pg_backup_archiver.h makes them */
#define MAKE_ARCHIVE_VERSION(major, minor, rev) \
	(((major) * 256 + (minor)) * 256 + (rev))
#define OLDEST_KNOWN_VERSION MAKE_ARCHIVE_VERSION(1, 12, 0)
#define NEWEST_KNOWN_VERSION MAKE_ARCHIVE_VERSION(1, 14, 0)
#define TABLEAM_VERSION MAKE_ARCHIVE_VERSION(1, 14, 0)

/*
 * pg_dump's archive formats (pg_backup.h's ArchiveFormat): a directory
 * archive's toc.dat says tar, whose table of contents it shares
 */
#define ARCHIVE_FORMAT_CUSTOM 1
#define ARCHIVE_FORMAT_TAR 3
#define ARCHIVE_FORMAT_DIRECTORY 5

/* the fields of an entry read and passed over between desc and namespace */
#define STRINGS_AFTER_DESC 3	/* defn, dropStmt, copyStmt */

/*
 * The byte reader over a pull source.  A read past the end, or a value no
 * archive holds, sets failed and problem; every later read then returns
 * nothing, so the caller checks once per entry.
 */
typedef struct TocReader
{
	ProtechBackupSource source;
	void	   *arg;
	StringInfoData chunk;		/* what the source gave last */
	int			pos;			/* what of it is consumed */
	bool		eof;
	int			version;
	int			int_size;
	int			off_size;
	bool		failed;
	char	   *problem;
} TocReader;

/*
 * Mark the reading failed with problem (the first one is kept).
 */
static void
fail(TocReader *r, const char *problem)
{
	if (!r->failed)
		r->problem = pstrdup(problem);
	r->failed = true;
}

/*
 * Copy the next len bytes of the source into dest (skip them when dest is
 * NULL); false, the reader failed, when the source ends first.
 */
static bool
read_bytes(TocReader *r, char *dest, size_t len)
{
	while (len > 0 && !r->failed)
	{
		size_t		n;

		if (r->pos >= r->chunk.len)
		{
			resetStringInfo(&r->chunk);
			r->pos = 0;
			if (r->eof || !r->source(&r->chunk, r->arg))
			{
				r->eof = true;
				fail(r, "the archive ends inside its table of contents");
				break;
			}
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		n = Min(len, (size_t) (r->chunk.len - r->pos));
		if (dest)
		{
			memcpy(dest, r->chunk.data + r->pos, n);
			dest += n;
		}
		r->pos += n;
		len -= n;
	}
	return !r->failed;
}

/*
 * The next byte, 0 once the reader failed.
 */
static int
read_byte(TocReader *r)
{
	unsigned char byte = 0;

	read_bytes(r, (char *) &byte, 1);
	return byte;
}

/*
 * The next integer (pg_dump's ReadInt: a sign byte, then int_size bytes
 * least significant first); 0 once the reader failed.
 */
static int
read_int(TocReader *r)
{
	bool		negative = read_byte(r) != 0;
	uint64		value = 0;

	for (int i = 0; i < r->int_size; i++)
		value |= (uint64) read_byte(r) << (8 * i);
	if (value > PG_INT32_MAX)
	{
		fail(r, "the archive holds an integer out of range");
		return 0;
	}
	return negative ? -(int) value : (int) value;
}

/*
 * The next string (pg_dump's ReadStr), palloc'd; NULL for none, and once
 * the reader failed.  keep false passes over its bytes and returns "".
 */
static char *
read_string(TocReader *r, bool keep)
{
	int			len = read_int(r);
	char	   *value;

	if (r->failed || len < 0)
		return NULL;
	if (!keep)
		return read_bytes(r, NULL, len) ? "" : NULL;
	if ((Size) len >= MaxAllocSize)
	{
		fail(r, "the archive holds a string longer than a server can hold");
		return NULL;
	}
	value = palloc(len + 1);
	if (!read_bytes(r, value, len))
		return NULL;
	value[len] = '\0';
	return value;
}

/*
 * Read the archive's header (pg_dump's ReadHead) up to its table of
 * contents, refusing a version this reader does not know; the format
 * found goes to *format.  False when the reader failed.
 */
static bool
read_header(TocReader *r, int *format)
{
	char		magic[5];
	int			major,
				minor,
				rev;

	if (!read_bytes(r, magic, sizeof(magic)) ||
		memcmp(magic, "PGDMP", sizeof(magic)) != 0)
	{
		fail(r, "it is not a pg_dump archive (no \"PGDMP\" at its start)");
		return false;
	}
	major = read_byte(r);
	minor = read_byte(r);
	rev = read_byte(r);
	r->version = MAKE_ARCHIVE_VERSION(major, minor, rev);
	if (!r->failed &&
		(r->version < OLDEST_KNOWN_VERSION || r->version > NEWEST_KNOWN_VERSION))
	{
		fail(r, psprintf("its archive version %d.%d.%d is not one this extension reads (1.12 to 1.14, those of pg_dump 9.0 to 15)",
						 major, minor, rev));
		return false;
	}
	r->int_size = read_byte(r);
	r->off_size = read_byte(r);
	if (!r->failed &&
		(r->int_size < 1 || r->int_size > 8 || r->off_size < 1 || r->off_size > 8))
	{
		fail(r, "its header gives an integer or offset size no archive has");
		return false;
	}
	*format = read_byte(r);
	if (!r->failed && *format != ARCHIVE_FORMAT_CUSTOM &&
		*format != ARCHIVE_FORMAT_TAR && *format != ARCHIVE_FORMAT_DIRECTORY)
	{
		fail(r, psprintf("its format %d is neither custom, directory nor tar", *format));
		return false;
	}
	(void) read_int(r);			/* compression */
	for (int i = 0; i < 7; i++)
		(void) read_int(r);		/* creation time */
	(void) read_string(r, false);	/* database name */
	(void) read_string(r, false);	/* server version */
	(void) read_string(r, false);	/* pg_dump version */
	return !r->failed;
}

/*
 * Read one entry of the table of contents (pg_dump's ReadToc, and the
 * format's ReadExtraToc) into entry.  False when the reader failed.
 */
static bool
read_entry(TocReader *r, int format, ProtechBackupTocEntry *entry)
{
	char	   *dep;
	int			room = 4;

	entry->dump_id = read_int(r);
	(void) read_int(r);			/* hadDumper */
	(void) read_string(r, false);	/* tableoid */
	(void) read_string(r, false);	/* oid */
	entry->tag = read_string(r, true);
	entry->desc = read_string(r, true);
	(void) read_int(r);			/* section */
	for (int i = 0; i < STRINGS_AFTER_DESC; i++)
		(void) read_string(r, false);
	entry->namespace = read_string(r, true);
	(void) read_string(r, false);	/* tablespace */
	if (r->version >= TABLEAM_VERSION)
		(void) read_string(r, false);	/* tableam */
	(void) read_string(r, false);	/* owner */
	(void) read_string(r, false);	/* withOids */
	entry->deps = palloc(sizeof(int) * room);
	entry->ndeps = 0;
	while ((dep = read_string(r, true)) != NULL)
	{
		char	   *end;
		long		id = strtol(dep, &end, 10);

		if (*dep == '\0' || *end != '\0' || id <= 0 || id > PG_INT32_MAX)
		{
			fail(r, psprintf("an entry depends on \"%s\", which is no dump id", dep));
			break;
		}
		if (entry->ndeps == room)
		{
			room *= 2;
			entry->deps = repalloc(entry->deps, sizeof(int) * room);
		}
		entry->deps[entry->ndeps++] = (int) id;
	}
	if (format == ARCHIVE_FORMAT_CUSTOM)
		read_bytes(r, NULL, 1 + r->off_size);	/* data offset: flag, offset */
	else
		(void) read_string(r, false);	/* data file name (directory, tar) */
	if (!r->failed && (entry->dump_id <= 0 || entry->tag == NULL ||
					   entry->desc == NULL))
		fail(r, "an entry has no dump id, name or kind");
	if (entry->namespace == NULL)
		entry->namespace = "";
	return !r->failed;
}

/*
 * Read the table of contents of the pg_dump archive that source gives
 * (pulled with arg: a custom archive's file, a directory archive's
 * toc.dat) into *toc, reading no further than its end.  False with
 * *problem saying why when it is no archive of a version this reader
 * knows, or is cut short or damaged.
 */
bool
protech_backup_read_toc(ProtechBackupSource source, void *arg,
						ProtechBackupToc *toc, char **problem)
{
	TocReader	r = {.source = source,.arg = arg};
	int			format = 0;
	int			count;

	initStringInfo(&r.chunk);
	toc->count = 0;
	toc->max_dump_id = 0;
	toc->entries = NULL;
	if (read_header(&r, &format))
	{
		count = read_int(&r);
		if (!r.failed && (count < 0 ||
						  (Size) count >= MaxAllocSize / sizeof(ProtechBackupTocEntry)))
			fail(&r, "its number of entries is out of range");
		if (!r.failed)
			toc->entries = palloc0(sizeof(ProtechBackupTocEntry) * Max(count, 1));
		for (int i = 0; !r.failed && i < count; i++)
		{
			ProtechBackupTocEntry *entry = &toc->entries[i];

			if (read_entry(&r, format, entry))
			{
				toc->count++;
				toc->max_dump_id = Max(toc->max_dump_id, entry->dump_id);
			}
		}
	}
	pfree(r.chunk.data);
	if (r.failed)
		*problem = r.problem;
	return !r.failed;
}
