/*-------------------------------------------------------------------------
 *
 * programs.h
 *		PostgreSQL's client programs as this extension runs them: their
 *		paths, their role and their environment (programs.c).  Built on
 *		settings.h and child.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_PROGRAMS_H
#define PROTECH_BACKUP_PROGRAMS_H

extern char *protech_backup_connection_role(void);
extern char *protech_backup_program_path(const char *program);

/* the most entries protech_backup_psql_options() writes */
#define PROTECH_BACKUP_PSQL_OPTIONS 8
extern int	protech_backup_psql_options(const char **argv, bool pin_search_path);
extern const char **protech_backup_connection_environment(const char *database,
														  const char *role);

#endif							/* PROTECH_BACKUP_PROGRAMS_H */
