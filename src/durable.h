/*-------------------------------------------------------------------------
 *
 * durable.h
 *		fsync, durable rename, removal and free space that never PANIC
 *		(durable.c).  Depends on no other module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_DURABLE_H
#define PROTECH_BACKUP_DURABLE_H

extern void protech_backup_build_path(char *path, const char *directory,
									  const char *name, const char *suffix);
extern int	protech_backup_open_nofollow(const char *path, int flags,
										 mode_t mode, char **problem);
extern bool protech_backup_fsync(const char *path, bool isdir, int elevel);
extern void protech_backup_durable_rename(const char *oldpath,
										  const char *newpath,
										  const char *directory);
extern void protech_backup_durable_rename_folder(const char *from,
												 const char *to);
extern bool protech_backup_remove_dump(const char *path);
extern int64 protech_backup_free_bytes(const char *path);

#endif							/* PROTECH_BACKUP_DURABLE_H */
