/*-------------------------------------------------------------------------
 *
 * pg_dump_options.h
 *		The parser of protech_backup.pg_dump_options (pg_dump_options.c).
 *		A leaf module: it depends on no other.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_PG_DUMP_OPTIONS_H
#define PROTECH_BACKUP_PG_DUMP_OPTIONS_H

#include "nodes/pg_list.h"

extern bool protech_backup_parse_pg_dump_options(const char *value,
												 List **words, char **detail);

#endif							/* PROTECH_BACKUP_PG_DUMP_OPTIONS_H */
