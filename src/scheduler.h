/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *		The launcher and the scheduler (scheduler.c).  Built on run.h and
 *		worker.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_SCHEDULER_H
#define PROTECH_BACKUP_SCHEDULER_H

extern void protech_backup_register_launcher(void);

#endif							/* PROTECH_BACKUP_SCHEDULER_H */
