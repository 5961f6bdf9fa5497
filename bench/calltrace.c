/*
 * calltrace.c: the -finstrument-functions hooks for bench/backup_path.pl,
 * preloaded (LD_PRELOAD) into a server whose protech_backup.so was built
 * with COPT="-O0 -finstrument-functions".  When PROTECH_BACKUP_CALLTRACE
 * names a directory (in the server's environment at its start), then while
 * that directory exists every process appends to DIR/calls.PID each call
 * edge of the library it sees for the first time: "CALLEE CALLER", the
 * callee's address and the caller's return address as offsets in the
 * library (the caller 0 when it lies outside, in the server).  A process
 * forked from one that traced starts afresh.  Never part of the extension.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS 65536

void		__cyg_profile_func_enter(void *fn, void *site) __attribute__((no_instrument_function));
void		__cyg_profile_func_exit(void *fn, void *site) __attribute__((no_instrument_function));

static uintptr_t seen[SLOTS][2];
static pid_t seen_by;

/*
 * Whether the edge (callee, caller) is new to this process; remembers it.
 */
static int	__attribute__((no_instrument_function))
first_time(uintptr_t callee, uintptr_t caller)
{
	size_t		i = (callee * 31 + caller) % SLOTS;

	if (seen_by != getpid())
	{
		memset(seen, 0, sizeof(seen));
		seen_by = getpid();
	}
	for (size_t n = 0; n < SLOTS; n++, i = (i + 1) % SLOTS)
	{
		if (seen[i][0] == callee + 1 && seen[i][1] == caller)
			return 0;
		if (seen[i][0] == 0)
		{
			seen[i][0] = callee + 1;
			seen[i][1] = caller;
			return 1;
		}
	}
	return 0;
}

void
__cyg_profile_func_enter(void *fn, void *site)
{
	const char *dir = getenv("PROTECH_BACKUP_CALLTRACE");
	Dl_info		lib;
	Dl_info		from;
	uintptr_t	callee;
	uintptr_t	caller = 0;
	char		path[4096];
	struct stat st;
	int			fd;

	if (dir == NULL || stat(dir, &st) != 0 || dladdr(fn, &lib) == 0)
		return;
	callee = (uintptr_t) fn - (uintptr_t) lib.dli_fbase;
	if (dladdr(site, &from) != 0 && from.dli_fbase == lib.dli_fbase)
		caller = (uintptr_t) site - (uintptr_t) lib.dli_fbase;
	if (!first_time(callee, caller))
		return;
	snprintf(path, sizeof(path), "%s/calls.%d", dir, (int) getpid());
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd < 0)
		return;
	dprintf(fd, "%lx %lx\n", (unsigned long) callee, (unsigned long) caller);
	close(fd);
}

void
__cyg_profile_func_exit(void *fn, void *site)
{
	(void) fn;
	(void) site;
}
