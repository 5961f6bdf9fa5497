/*-------------------------------------------------------------------------
 *
 * protech_backup.c
 *		Module load of protech_backup: _PG_init, and nothing else.  It
 *		defines the settings (settings.c) in every process that loads the
 *		library and, when the library is preloaded, reserves the shared
 *		state (slot.c), registers the launcher (scheduler.c) and installs
 *		the hook that keeps restores from running as a superuser (restore.c).
 *
 * The map of the modules, their layers and the path of one backup through
 * them are in doc/architecture.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "restore.h"
#include "scheduler.h"
#include "settings.h"
#include "slot.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Module load: define the settings everywhere, and the shared memory and
 * the launcher only when preloaded.
 */
void
_PG_init(void)
{
	protech_backup_define_settings();

	if (!process_shared_preload_libraries_in_progress)
		return;

	if (!IsBinaryUpgrade)
		protech_backup_register_launcher();
	protech_backup_install_restore_hook();
	protech_backup_install_shmem_hooks();
}
