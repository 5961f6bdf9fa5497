/*-------------------------------------------------------------------------
 *
 * slot.h
 *		The shared state of protech_backup (slot.c): the cluster-wide backup
 *		slot, the scheduler's state and the manifest lock.  Depends on no
 *		other module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_SLOT_H
#define PROTECH_BACKUP_SLOT_H

#include "datatype/timestamp.h"

/*
 * What all processes share: the backup running now (the cluster-wide slot:
 * at most one backup at a time) and the scheduler's state.
 */
typedef struct ProtechBackupState
{
	pid_t		running_pid;	/* 0 when no backup runs */
	TimestampTz running_since;
	char		running_file[MAXPGPATH];
	uint64		running_bytes;
	int64		running_run_id; /* its history row, 0 if none */
	pid_t		scheduler_pid;	/* 0 when no scheduler runs */
	TimestampTz next_run_at;	/* 0 when nothing is scheduled */
} ProtechBackupState;

extern void protech_backup_install_shmem_hooks(void);
extern void protech_backup_require_preload(void);
extern void protech_backup_claim_slot(int64 run_id);
extern bool protech_backup_try_claim_slot(int64 run_id);
extern void protech_backup_take_over_slot_from(pid_t holder);
extern int64 protech_backup_slot_run_id(void);
extern void protech_backup_slot_set_file(const char *file_name);
extern void protech_backup_report_progress(uint64 bytes_written);
extern void protech_backup_release_slot(void);
extern void protech_backup_lock_manifests(void);
extern void protech_backup_unlock_manifests(void);
extern void protech_backup_set_scheduler_state(pid_t pid, TimestampTz next_run_at);
extern void protech_backup_get_state(ProtechBackupState *state);

#endif							/* PROTECH_BACKUP_SLOT_H */
