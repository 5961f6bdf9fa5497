/*-------------------------------------------------------------------------
 *
 * child.h
 *		The child runner of protech_backup (child.c): a program run by
 *		fork/exec inside the latch loop, its environment, the interrupt
 *		check of long waits and the tail of what a program printed.
 *		Depends on no other module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_CHILD_H
#define PROTECH_BACKUP_CHILD_H

#include "lib/stringinfo.h"

#include "protech_backup.h"

/* appends the next piece of input to buf; false when there is no more */
typedef bool (*ProtechBackupSource) (StringInfo buf, void *arg);
/* why a SIGTERM came, in the words of the process it interrupts */
typedef const char *(*ProtechBackupInterruptReason) (void);

extern int	protech_backup_run_child(const char *what,
									 const char *const *argv,
									 const char *const *envp,
									 ProtechBackupSource stdin_source,
									 void *source_arg,
									 ProtechBackupSink stdout_sink,
									 void *sink_arg,
									 StringInfo stderr_tail,
									 int timeout_s);

/* a child running alongside the caller, as a filter (see child.c) */
typedef struct ProtechBackupChild ProtechBackupChild;

extern ProtechBackupChild *protech_backup_start_child(const char *what,
													  const char *const *argv,
													  const char *const *envp,
													  bool with_stdin,
													  int timeout_s);
extern void protech_backup_child_write(ProtechBackupChild *child,
									   const char *data, size_t len,
									   ProtechBackupSink sink, void *sink_arg);
extern ssize_t protech_backup_child_read(ProtechBackupChild *child, char *buf,
										 size_t size);
extern int	protech_backup_child_finish(ProtechBackupChild *child,
										ProtechBackupSink sink, void *sink_arg,
										StringInfo stderr_tail);
extern void protech_backup_child_kill(ProtechBackupChild *child);

extern void protech_backup_collect_output(const char *data, size_t len,
										  void *arg);
extern const char **protech_backup_child_environment(const char *const *extra);
extern void protech_backup_set_interrupt_reason(ProtechBackupInterruptReason reason);
extern void protech_backup_check_for_interrupts(void);
extern char *protech_backup_last_lines(StringInfo output, int nlines);

#endif							/* PROTECH_BACKUP_CHILD_H */
