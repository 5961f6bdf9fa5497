/*-------------------------------------------------------------------------
 *
 * worker.h
 *		What every background worker of protech_backup shares (worker.c).
 *		Depends on no other module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_WORKER_H
#define PROTECH_BACKUP_WORKER_H

#include "postmaster/bgworker.h"

extern BackgroundWorkerHandle *protech_backup_start_dynamic_worker(const char *type,
																   const char *function,
																   const char *database,
																   Datum main_arg);
extern void protech_backup_setup_signals(void);
extern bool protech_backup_reload_if_requested(void);
extern void protech_backup_wait_on_latch(long timeout_ms);
extern void protech_backup_pin_search_path(void);
extern void protech_backup_begin_work(void);
extern void protech_backup_end_work(void);

#endif							/* PROTECH_BACKUP_WORKER_H */
