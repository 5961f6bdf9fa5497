/*-------------------------------------------------------------------------
 *
 * iofault.c
 *		An LD_PRELOAD shim for the TAP tests of protech_backup, never part of
 *		the extension: it makes open, openat, fopen, read, write, fsync,
 *		fdatasync, rename and unlink fail with a chosen errno on paths that
 *		match a pattern, at the Nth matching call of a process, and it can
 *		log those calls in the order they happen.  The fault injection of
 *		pgBackRest's tests, for a server and the programs it runs.
 *
 * ProtechBackupTest.pm builds it (cc -shared -fPIC) and starts a node with
 * LD_PRELOAD naming it and PROTECH_BACKUP_IOFAULT naming a control file;
 * the postmaster, every process it forks and every program they exec
 * (pg_dump, psql, pg_restore inherit the environment) load it.  The control
 * file is read again whenever it changes (a new inode, size or mtime, seen
 * at the next open, fopen, rename or unlink of the process), so one running
 * server gets different faults per test; a change also restarts the call
 * counts.  The test replaces it by rename, one line per rule:
 *
 *		fail CALL ERRNO N[+] PATTERN [PROGRAM]
 *		trace FILE PATTERN
 *
 * "fail" makes the Nth call of CALL (open, read, write, fsync, fdatasync,
 * rename, unlink; "open" covers openat and fopen) on a path that PATTERN
 * matches (fnmatch(3) without FNM_PATHNAME: "*" matches "/" too) fail with
 * ERRNO (a name such as EIO, ENOSPC or EACCES), or with "+" the Nth and
 * every later one, in processes whose program is PROGRAM (its name at
 * exec, such as postgres or psql; any program when omitted).  Counts are
 * per process.  Calls on a file descriptor match the path it was opened
 * with; rename matches its old path.  Every failure injected is appended
 * to "<control file>.fired" as "pid program call errno path", so that a
 * test can check its fault was injected at all.
 *
 * "trace" appends "pid program call path result" to FILE for every open,
 * fsync, fdatasync, rename ("old new" as its path) and unlink on a path
 * PATTERN matches, failed ones too (result -1): the durability test reads
 * from it in which order files were synced and renamed.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_RULES 32
#define MAX_FDS 4096
#define LINE_MAX_LEN 1024

typedef struct Rule
{
	char		call[LINE_MAX_LEN];
	int			error;
	long		nth;
	int			and_later;		/* N+ */
	char		pattern[LINE_MAX_LEN];
	char		program[LINE_MAX_LEN];	/* "" for any */
	long		calls;			/* matching calls so far, in this process */
} Rule;

static Rule rules[MAX_RULES];
static int	nrules;
static char trace_path[LINE_MAX_LEN];
static char trace_pattern[LINE_MAX_LEN];
static char fired_path[LINE_MAX_LEN + 8];
static char control_path[LINE_MAX_LEN];
static struct stat control_seen;	/* what the loaded rules were read from */
static char program[64];
static char *fd_paths[MAX_FDS];

static const struct
{
	const char *name;
	int			value;
}			errno_names[] = {
	{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EACCES", EACCES}, {"EPERM", EPERM},
	{"EROFS", EROFS}, {"EDQUOT", EDQUOT}, {"ENOENT", ENOENT},
	{"EMFILE", EMFILE}, {"EBUSY", EBUSY}, {"EINTR", EINTR},
};

/* the functions this shim stands in front of */
static int	(*real_open) (const char *, int, ...);
static int	(*real_openat) (int, const char *, int, ...);
static FILE *(*real_fopen) (const char *, const char *);
static int	(*real_fclose) (FILE *);
static ssize_t (*real_read) (int, void *, size_t);
static ssize_t (*real_write) (int, const void *, size_t);
static int	(*real_fsync) (int);
static int	(*real_fdatasync) (int);
static int	(*real_rename) (const char *, const char *);
static int	(*real_unlink) (const char *);
static int	(*real_close) (int);

/*
 * Append one line to the file at path, with system calls only, so that
 * logging never comes back into this shim.
 */
static void
append_line(const char *path, const char *fmt,...)
{
	char		line[2 * LINE_MAX_LEN];
	va_list		ap;
	int			len;
	int			fd;

	if (path[0] == '\0')
		return;
	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if (len > (int) sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	(void) syscall(SYS_write, fd, line, len);
	(void) syscall(SYS_close, fd);
}

/*
 * The errno an ERRNO word names, or 0.
 */
static int
errno_of(const char *word)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (strcmp(word, errno_names[i].name) == 0)
			return errno_names[i].value;
	return atoi(word);
}

/*
 * Read the control file again if it changed since it was last read; a
 * missing control file means no rule.  Keeps errno.
 */
static void
refresh_rules(void)
{
	struct stat st;
	char		buf[MAX_RULES * LINE_MAX_LEN];
	ssize_t		len;
	int			fd;
	int			save_errno = errno;
	char	   *line;
	char	   *next;

	if (control_path[0] == '\0')
		return;
	if (stat(control_path, &st) != 0)
		memset(&st, 0, sizeof(st));
	if (st.st_ino == control_seen.st_ino && st.st_size == control_seen.st_size &&
		st.st_mtim.tv_sec == control_seen.st_mtim.tv_sec &&
		st.st_mtim.tv_nsec == control_seen.st_mtim.tv_nsec)
	{
		errno = save_errno;
		return;
	}
	control_seen = st;
	nrules = 0;
	trace_path[0] = '\0';
	len = 0;
	fd = syscall(SYS_openat, AT_FDCWD, control_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
	{
		len = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
		(void) syscall(SYS_close, fd);
	}
	buf[len > 0 ? len : 0] = '\0';
	for (line = buf; line && *line; line = next)
	{
		char		word[5][LINE_MAX_LEN];
		char		nth[32];
		int			n;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		n = sscanf(line, "%1023s %1023s %1023s %31s %1023s %1023s",
				   word[0], word[1], word[2], nth, word[3], word[4]);
		if (n >= 3 && strcmp(word[0], "trace") == 0)
		{
			snprintf(trace_path, sizeof(trace_path), "%s", word[1]);
			snprintf(trace_pattern, sizeof(trace_pattern), "%s", word[2]);
		}
		else if (n >= 5 && strcmp(word[0], "fail") == 0 && nrules < MAX_RULES)
		{
			Rule	   *r = &rules[nrules++];

			memset(r, 0, sizeof(*r));
			snprintf(r->call, sizeof(r->call), "%s", word[1]);
			r->error = errno_of(word[2]);
			r->nth = atol(nth);
			r->and_later = strchr(nth, '+') != NULL;
			snprintf(r->pattern, sizeof(r->pattern), "%s", word[3]);
			if (n >= 6)
				snprintf(r->program, sizeof(r->program), "%s", word[4]);
		}
	}
	errno = save_errno;
}

/*
 * Whether this call of call on path is to fail, and with which errno (0:
 * it is not).  Counts the call for every rule it matches.
 */
static int
injected_error(const char *call, const char *path)
{
	int			error = 0;

	if (path == NULL)
		return 0;
	for (int i = 0; i < nrules; i++)
	{
		Rule	   *r = &rules[i];

		if (strcmp(r->call, call) != 0 ||
			(r->program[0] != '\0' && strcmp(r->program, program) != 0) ||
			fnmatch(r->pattern, path, 0) != 0)
			continue;
		r->calls++;
		if (error == 0 && (r->calls == r->nth || (r->and_later && r->calls > r->nth)))
			error = r->error;
	}
	if (error != 0)
		append_line(fired_path, "%d %s %s %s %s", (int) getpid(), program,
					call, strerrorname_np(error), path);
	return error;
}

/*
 * Log a call that was made on path (for rename, its old path; newpath is
 * its new one, else NULL), with its result, when tracing.
 */
static void
trace_call(const char *call, const char *path, const char *newpath,
		   long result)
{
	if (trace_path[0] != '\0' && path != NULL &&
		fnmatch(trace_pattern, path, 0) == 0)
		append_line(trace_path, "%d %s %s %s%s%s %ld", (int) getpid(), program,
					call, path, newpath ? " " : "", newpath ? newpath : "",
					result);
}

/*
 * Remember the path a new descriptor was opened with.
 */
static void
remember_fd(int fd, const char *path)
{
	if (fd < 0 || fd >= MAX_FDS)
		return;
	free(fd_paths[fd]);
	fd_paths[fd] = strdup(path);
}

static void
forget_fd(int fd)
{
	if (fd < 0 || fd >= MAX_FDS)
		return;
	free(fd_paths[fd]);
	fd_paths[fd] = NULL;
}

static const char *
path_of_fd(int fd)
{
	return fd >= 0 && fd < MAX_FDS ? fd_paths[fd] : NULL;
}

/*
 * At load, or at the first call when another library's constructor calls
 * in first: find the real functions, the control file, and the name of this
 * program (copied now: PostgreSQL later overwrites argv for its process
 * titles).
 */
__attribute__((constructor))
static void
iofault_init(void)
{
	const char *control;

	if (real_open != NULL)
		return;
	control = getenv("PROTECH_BACKUP_IOFAULT");

	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_fopen = dlsym(RTLD_NEXT, "fopen");
	real_fclose = dlsym(RTLD_NEXT, "fclose");
	real_read = dlsym(RTLD_NEXT, "read");
	real_write = dlsym(RTLD_NEXT, "write");
	real_fsync = dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	real_rename = dlsym(RTLD_NEXT, "rename");
	real_unlink = dlsym(RTLD_NEXT, "unlink");
	real_close = dlsym(RTLD_NEXT, "close");
	snprintf(program, sizeof(program), "%s", program_invocation_short_name);
	if (control)
	{
		snprintf(control_path, sizeof(control_path), "%s", control);
		snprintf(fired_path, sizeof(fired_path), "%s.fired", control);
	}
}

/*
 * Whether this call of call on path (newpath: rename's new path) is to
 * fail; if so, errno is set to the injected error and the failure traced
 * (when traced).  With refresh, the rules are read again first if the
 * control file changed: done at open, fopen, rename and unlink, which are
 * rare enough for a stat each.
 */
static int
fails(const char *call, const char *path, const char *newpath, int refresh,
	  int traced)
{
	int			error;

	iofault_init();
	if (refresh)
		refresh_rules();
	error = injected_error(call, path);
	if (error == 0)
		return 0;
	if (traced)
		trace_call(call, path, newpath, -1);
	errno = error;
	return 1;
}

/*
 * open and openat (at set: relative to dirfd).
 */
static int
open_common(int dirfd, const char *path, int flags, mode_t mode, int at)
{
	int			fd;

	if (fails("open", path, NULL, 1, 1))
		return -1;
	fd = at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
	remember_fd(fd, path);
	trace_call("open", path, NULL, fd);
	return fd;
}

/*
 * Set mode to the mode argument of open or openat, the variadic argument
 * after flags, there only with O_CREAT or O_TMPFILE (0 otherwise): a
 * macro, as va_start belongs in the variadic function itself.
 */
#define MODE_ARGUMENT(flags, mode) \
	do { \
		va_list		ap; \
		va_start(ap, flags); \
		mode = ((flags) & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0; \
		va_end(ap); \
	} while (0)

int
open(const char *path, int flags,...)
{
	mode_t		mode;

	MODE_ARGUMENT(flags, mode);
	return open_common(AT_FDCWD, path, flags, mode, 0);
}

int			open64(const char *path, int flags,...) __attribute__((alias("open")));

int
openat(int dirfd, const char *path, int flags,...)
{
	mode_t		mode;

	MODE_ARGUMENT(flags, mode);
	return open_common(dirfd, path, flags, mode, 1);
}

int			openat64(int dirfd, const char *path, int flags,...) __attribute__((alias("openat")));

FILE *
fopen(const char *path, const char *mode)
{
	FILE	   *fp;

	if (fails("open", path, NULL, 1, 1))
		return NULL;
	fp = real_fopen(path, mode);
	if (fp)
		remember_fd(fileno(fp), path);
	trace_call("open", path, NULL, fp ? fileno(fp) : -1);
	return fp;
}

FILE	   *fopen64(const char *path, const char *mode) __attribute__((alias("fopen")));

int
fclose(FILE *fp)
{
	iofault_init();
	if (fp)
		forget_fd(fileno(fp));
	return real_fclose(fp);
}

int
close(int fd)
{
	iofault_init();
	forget_fd(fd);
	return real_close(fd);
}

ssize_t
read(int fd, void *buf, size_t count)
{
	if (fails("read", path_of_fd(fd), NULL, 0, 0))
		return -1;
	return real_read(fd, buf, count);
}

ssize_t
write(int fd, const void *buf, size_t count)
{
	if (fails("write", path_of_fd(fd), NULL, 0, 0))
		return -1;
	return real_write(fd, buf, count);
}

/*
 * fsync and fdatasync: traced, since the durability test needs their order.
 */
static int
sync_common(const char *call, int fd, int (*real) (int))
{
	const char *path;
	int			result;

	iofault_init();
	path = path_of_fd(fd);
	if (fails(call, path, NULL, 0, 1))
		return -1;
	result = real(fd);
	trace_call(call, path, NULL, result);
	return result;
}

int
fsync(int fd)
{
	return sync_common("fsync", fd, real_fsync);
}

int
fdatasync(int fd)
{
	return sync_common("fdatasync", fd, real_fdatasync);
}

int
rename(const char *oldpath, const char *newpath)
{
	int			result;

	if (fails("rename", oldpath, newpath, 1, 1))
		return -1;
	result = real_rename(oldpath, newpath);
	trace_call("rename", oldpath, newpath, result);
	return result;
}

int
unlink(const char *path)
{
	int			result;

	if (fails("unlink", path, NULL, 1, 1))
		return -1;
	result = real_unlink(path);
	trace_call("unlink", path, NULL, result);
	return result;
}
