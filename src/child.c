/*-------------------------------------------------------------------------
 *
 * child.c
 *		Run an external program (pg_dump, pg_dumpall, psql, pg_restore, the
 *		post-backup command) by fork/exec with an argument vector, never
 *		through a shell, and pump its output inside a latch loop; the
 *		interrupt check every long wait of a backup makes; and the last
 *		lines of what a program printed, for error details.  Depends on no
 *		other module.
 *
 * The calling process stays responsive the whole time: query cancel,
 * statement_timeout, pg_terminate_backend, SIGTERM of a worker (see
 * protech_backup_check_for_interrupts) and postmaster death all reach it
 * through its latch, and whatever error or
 * exit ends the wait kills the child with SIGKILL and reaps it before the
 * error propagates.  The child also gets PR_SET_PDEATHSIG so that it dies if
 * the calling process is killed outright.
 *
 * The child's standard output goes to a sink callback (so the caller can
 * hash, compress and write it in one pass with a fixed-size buffer), or, when
 * there is no sink, into the same capture as standard error.  Of standard
 * error only the tail is kept, to quote in error messages.  Its standard
 * input is /dev/null, or, when the caller gives a source callback, a pipe
 * the loop fills from that callback whenever the child has read what was
 * written (so a restore can decompress a backup straight into psql).
 *
 * A child can also run alongside the caller's own work, as a filter a
 * stream stage writes into and reads from (protech_backup_start_child):
 * the stage feeds its standard input and drains its standard output
 * piece by piece, each call waiting in the latch loop, on both pipes at
 * once, only as long as the child needs to make room or produce output,
 * so neither side can block the other.  Such a child outlives the call
 * that started it, so it is killed by a resource owner release callback
 * when the transaction (or subtransaction) it was started in aborts, by
 * the same PR_SET_PDEATHSIG when the process dies, and by whoever ends
 * it (protech_backup_child_finish or _kill).
 *
 * While standard output flows, the loop pauses CHILD_BATCH_MS between
 * drains instead of waking for every write of the child, so that the
 * output arrives in large reads and the process streaming it costs little
 * CPU; once it stops flowing the loop sleeps on the pipes again, so a
 * child that is silent costs nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procsignal.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "child.h"

/* bytes read from the child's standard output per read() */
#define CHILD_READ_CHUNK (256 * 1024)
/* size asked for the pipe carrying the child's standard output */
#define CHILD_PIPE_SIZE (1024 * 1024)
/*
 * While output flows, pause this long between drains instead of waking for
 * every write of the child (pg_dump writes 8 kB at a time): a 1 MB pipe
 * fills in 2 ms only above 500 MB/s, far above what one pg_dump produces.
 */
#define CHILD_BATCH_MS 2
/* how much of the child's standard error is kept */
#define CHILD_STDERR_KEEP 4096

extern char **environ;

/* what a SIGTERM interrupts, in the words of the process (see below) */
static ProtechBackupInterruptReason interrupt_reason = NULL;

/*
 * What the error cleanup needs to know about a running child.
 */
typedef struct ChildProcess
{
	pid_t		pid;			/* 0 once reaped */
	int			stdin_fd;		/* write end, or -1 */
	int			stdout_fd;		/* read end, or -1 */
	int			stderr_fd;		/* read end, or -1 */
	int			pidfd;			/* readable when the child exits, or -1 */
	bool		batch;			/* pause between drains while output flows */
	WaitEventSet *wait_set;
} ChildProcess;

/*
 * A child started by protech_backup_start_child, running until it is
 * finished or killed.
 */
struct ProtechBackupChild
{
	ChildProcess proc;
	const char *what;
	int			timeout_s;
	TimestampTz deadline;		/* 0: none */
	StringInfoData tail;		/* the end of its standard error */
	char	   *buf;
	ResourceOwner owner;		/* killed when that is released */
	dlist_node	node;			/* in running_children */
};

/* the children started by protech_backup_start_child, still running */
static dlist_head running_children = DLIST_STATIC_INIT(running_children);
static bool release_callback_registered = false;

/*
 * Let reason() say, when a SIGTERM interrupts this process's backup, why it
 * came (see protech_backup_check_for_interrupts).  A manual backup worker
 * sets it, since its SIGTERM may come from its caller's cancel.
 */
void
protech_backup_set_interrupt_reason(ProtechBackupInterruptReason reason)
{
	interrupt_reason = reason;
}

/*
 * Interrupt check for long waits of a backup: the usual
 * CHECK_FOR_INTERRUPTS, plus a SIGTERM of our workers turned into an ERROR
 * so that the run is recorded before the process exits.  While cancel
 * interrupts are held (creating or dropping a database, see restore.c) a
 * SIGTERM waits like a cancel.  Whatever is held, a ProcSignalBarrier is
 * absorbed: the DROP DATABASE a child runs waits until every backend,
 * this one included, has absorbed one, and this process may be exiting
 * (with all interrupts held) while it drops its scratch database.
 */
void
protech_backup_check_for_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
	if (ProcSignalBarrierPending)
		ProcessProcSignalBarrier();
	if (ShutdownRequestPending && InterruptHoldoffCount == 0 &&
		QueryCancelHoldoffCount == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("backup interrupted: %s",
						interrupt_reason ? interrupt_reason() :
						"the server is shutting down or the backup process was terminated")));
}

/*
 * In the child: wire up standard input (stdin_fd, or /dev/null when it is
 * -1), output and error, drop every other descriptor, restore default
 * signal handling and exec.  Never returns.
 */
static void
exec_child(const char *const *argv, const char *const *envp,
		   int stdin_fd, int stdout_fd, int stderr_fd, pid_t parent)
{
	sigset_t	none;

	if (stdin_fd < 0)
		stdin_fd = open("/dev/null", O_RDONLY);
	if (stdin_fd < 0 || dup2(stdin_fd, STDIN_FILENO) < 0 ||
		dup2(stdout_fd, STDOUT_FILENO) < 0 ||
		dup2(stderr_fd, STDERR_FILENO) < 0)
		_exit(127);
	closefrom(3);

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* die with the process that started us, even if it is SIGKILLed */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);

	execve(argv[0], (char *const *) argv, (char *const *) envp);
	dprintf(STDERR_FILENO, "could not execute \"%s\": %s\n",
			argv[0], strerror(errno));
	_exit(127);
}

/*
 * Error and exit cleanup: kill and reap the child, close what is open.
 * Registered with PG_ENSURE_ERROR_CLEANUP, so it also runs on FATAL and on
 * postmaster death (WL_EXIT_ON_PM_DEATH exits through proc_exit).
 */
static void
cleanup_child(int code, Datum arg)
{
	ChildProcess *child = (ChildProcess *) DatumGetPointer(arg);

	if (child->pid > 0)
	{
		kill(child->pid, SIGKILL);
		while (waitpid(child->pid, NULL, 0) < 0 && errno == EINTR)
			;
		child->pid = 0;
	}
	if (child->wait_set != NULL)
		FreeWaitEventSet(child->wait_set);
	child->wait_set = NULL;
	if (child->stdin_fd >= 0)
		close(child->stdin_fd);
	child->stdin_fd = -1;
	if (child->stdout_fd >= 0)
		close(child->stdout_fd);
	child->stdout_fd = -1;
	if (child->stderr_fd >= 0)
		close(child->stderr_fd);
	child->stderr_fd = -1;
	if (child->pidfd >= 0)
		close(child->pidfd);
	child->pidfd = -1;
}

/*
 * The set of events the loop waits for: the latch, postmaster death, and
 * whichever of the child's descriptors are still open.  Rebuilt when a pipe
 * is closed, since PostgreSQL 15 cannot remove an event.
 */
static WaitEventSet *
make_wait_set(ChildProcess *child)
{
	WaitEventSet *set = CreateWaitEventSet(CurrentMemoryContext, 6);

	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	if (child->stdin_fd >= 0)
		AddWaitEventToSet(set, WL_SOCKET_WRITEABLE, child->stdin_fd, NULL, NULL);
	if (child->stdout_fd >= 0)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, child->stdout_fd, NULL, NULL);
	if (child->stderr_fd >= 0)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, child->stderr_fd, NULL, NULL);
	if (child->pidfd >= 0)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, child->pidfd, NULL, NULL);
	return set;
}

/*
 * Keep only the last CHILD_STDERR_KEEP bytes of what the child printed.
 */
static void
append_tail(StringInfo tail, const char *data, size_t len)
{
	appendBinaryStringInfo(tail, data, len);
	if (tail->len > 2 * CHILD_STDERR_KEEP)
	{
		int			drop = tail->len - CHILD_STDERR_KEEP;

		memmove(tail->data, tail->data + drop, tail->len - drop + 1);
		tail->len -= drop;
	}
}

/*
 * Read what is available on *fd without blocking, handing it to the sink
 * (or the stderr tail when sink is NULL) and adding its length to *got.
 * Closes *fd at end of file and returns true when it did, so the caller
 * rebuilds its wait set.
 */
static bool
drain_pipe(int *fd, char *buf, ProtechBackupSink sink, void *sink_arg,
		   StringInfo tail, size_t *got)
{
	for (;;)
	{
		ssize_t		n;

		protech_backup_check_for_interrupts();
		n = read(*fd, buf, CHILD_READ_CHUNK);
		if (n > 0)
		{
			*got += n;
			if (sink)
				sink(buf, n, sink_arg);
			else
				append_tail(tail, buf, n);
			continue;
		}
		if (n == 0)
		{
			close(*fd);
			*fd = -1;
			return true;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read output of child process: %m")));
	}
}

/*
 * Close both ends of a pipe that was created (or do nothing for {-1, -1}).
 */
static void
close_pipe(int fds[2])
{
	if (fds[0] >= 0)
	{
		close(fds[0]);
		close(fds[1]);
	}
}

/*
 * What feeds the child's standard input: the source callback, and the
 * piece it produced last, written from cursor on.
 */
typedef struct ChildInput
{
	ProtechBackupSource source;
	void	   *source_arg;
	bool		exhausted;		/* the source has no more */
	StringInfoData pending;
	int			cursor;
} ChildInput;

/*
 * Write to the child's standard input, without blocking, as much as it
 * takes, asking the source for more whenever the last piece is written.
 * Closes *fd when the input is complete, or when the child has closed its
 * end (EPIPE: it stopped reading, its exit status says why), and returns
 * true when it did, so the caller rebuilds its wait set.
 */
static bool
fill_pipe(int *fd, ChildInput *input)
{
	for (;;)
	{
		ssize_t		n;

		protech_backup_check_for_interrupts();
		if (input->cursor == input->pending.len)
		{
			resetStringInfo(&input->pending);
			input->cursor = 0;
			if (!input->exhausted &&
				!input->source(&input->pending, input->source_arg))
				input->exhausted = true;
			if (input->pending.len == 0)
			{
				if (!input->exhausted)
					continue;
				close(*fd);
				*fd = -1;
				return true;
			}
		}
		n = write(*fd, input->pending.data + input->cursor,
				  input->pending.len - input->cursor);
		if (n > 0)
		{
			input->cursor += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (n < 0 && errno == EPIPE)
		{
			close(*fd);
			*fd = -1;
			return true;
		}
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write input of child process: %m")));
	}
}

/*
 * Start argv[0] (named what in messages) with envp, its standard error on
 * a pipe, its standard input on a pipe when with_stdin (else /dev/null),
 * its standard output on a pipe when with_stdout (else with its standard
 * error), every pipe of ours non-blocking, into *child.  Raises an error
 * when no pipe or process can be made.
 */
static void
spawn_child(const char *what, const char *const *argv,
			const char *const *envp, bool with_stdin, bool with_stdout,
			ChildProcess *child)
{
	int			in_pipe[2] = {-1, -1};
	int			out_pipe[2] = {-1, -1};
	int			err_pipe[2] = {-1, -1};

	memset(child, 0, sizeof(ChildProcess));
	child->stdin_fd = child->stdout_fd = child->stderr_fd = child->pidfd = -1;
	if (pipe2(err_pipe, O_CLOEXEC) != 0 ||
		(with_stdout && pipe2(out_pipe, O_CLOEXEC) != 0) ||
		(with_stdin && pipe2(in_pipe, O_CLOEXEC) != 0))
	{
		int			save_errno = errno;

		close_pipe(err_pipe);
		close_pipe(out_pipe);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create pipe for %s: %m", what)));
	}

	fflush(NULL);
	child->pid = fork();
	if (child->pid == 0)
		exec_child(argv, envp, in_pipe[0],
				   with_stdout ? out_pipe[1] : err_pipe[1], err_pipe[1],
				   getppid());
	if (child->pid < 0)
	{
		int			save_errno = errno;

		close_pipe(err_pipe);
		close_pipe(out_pipe);
		close_pipe(in_pipe);
		errno = save_errno;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not fork to run %s: %m", what)));
	}

	/* parent */
	close(err_pipe[1]);
	child->stderr_fd = err_pipe[0];
	if (out_pipe[0] >= 0)
	{
		close(out_pipe[1]);
		child->stdout_fd = out_pipe[0];
		child->batch = fcntl(child->stdout_fd, F_SETPIPE_SZ, CHILD_PIPE_SIZE) >=
			CHILD_PIPE_SIZE;
		(void) fcntl(child->stdout_fd, F_SETFL, O_NONBLOCK);
	}
	if (in_pipe[1] >= 0)
	{
		close(in_pipe[0]);
		child->stdin_fd = in_pipe[1];
		(void) fcntl(child->stdin_fd, F_SETPIPE_SZ, CHILD_PIPE_SIZE);
		(void) fcntl(child->stdin_fd, F_SETFL, O_NONBLOCK);
	}
	(void) fcntl(child->stderr_fd, F_SETFL, O_NONBLOCK);
	child->pidfd = syscall(SYS_pidfd_open, child->pid, 0);
}

/*
 * How long the latch loop of what may sleep, at most default_ms (-1: no
 * limit), before deadline (0: none); raises query_canceled once deadline
 * has passed, the child to be killed by the caller's cleanup.
 */
static long
sleep_before_deadline(const char *what, TimestampTz deadline, int timeout_s,
					  long default_ms)
{
	long		left;

	if (deadline == 0)
		return default_ms;
	left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
	if (left <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("%s did not finish within protech_backup.timeout (%d s) and was killed",
						what, timeout_s)));
	return default_ms < 0 ? left : Min(default_ms, left);
}

/*
 * Run argv[0] with the given argument vector and environment, feeding its
 * standard input from stdin_source (or /dev/null when that is NULL) and its
 * standard output to stdout_sink (or, when that is NULL, into stderr_tail
 * with its standard error).  what names the program in messages.  When
 * timeout_s is positive, a child still running after that many seconds is
 * killed and an error raised.  Returns the wait status as waitpid() gives
 * it; the caller interprets it with wait_result_to_str().
 */
int
protech_backup_run_child(const char *what, const char *const *argv,
						 const char *const *envp,
						 ProtechBackupSource stdin_source, void *source_arg,
						 ProtechBackupSink stdout_sink, void *sink_arg,
						 StringInfo stderr_tail, int timeout_s)
{
	ChildProcess child;
	ChildInput	input = {stdin_source, source_arg, false};
	int			status = 0;
	char	   *buf = palloc(CHILD_READ_CHUNK);
	TimestampTz deadline = timeout_s > 0 ?
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_s * 1000L) : 0;

	spawn_child(what, argv, envp, stdin_source != NULL, stdout_sink != NULL,
				&child);
	if (child.stdin_fd >= 0)
		initStringInfo(&input.pending);

	PG_ENSURE_ERROR_CLEANUP(cleanup_child, PointerGetDatum(&child));
	{
		for (;;)
		{
			WaitEvent	event;
			bool		closed = false;
			size_t		got = 0;
			long		timeout_ms;

			if (child.stdout_fd >= 0)
				closed |= drain_pipe(&child.stdout_fd, buf, stdout_sink,
									 sink_arg, stderr_tail, &got);
			if (child.stderr_fd >= 0)
				closed |= drain_pipe(&child.stderr_fd, buf, NULL, NULL,
									 stderr_tail, &got);
			if (child.stdin_fd >= 0)
				closed |= fill_pipe(&child.stdin_fd, &input);
			if (closed && child.wait_set != NULL)
			{
				FreeWaitEventSet(child.wait_set);
				child.wait_set = NULL;
			}
			if (child.stdout_fd < 0 && child.stderr_fd < 0)
			{
				pid_t		r = waitpid(child.pid, &status, WNOHANG);

				/* once it has exited, input it did not read is dropped */
				if (r == child.pid)
				{
					child.pid = 0;
					break;
				}
				if (r < 0 && errno != EINTR)
					ereport(ERROR,
							(errmsg("could not wait for %s: %m", what)));
			}

			/* without a pidfd, poll for the exit ten times a second */
			timeout_ms = sleep_before_deadline(what, deadline, timeout_s,
											   child.pidfd >= 0 ? -1 : 100);
			if (child.batch && got > 0 && child.stdout_fd >= 0)
				(void) WaitLatch(MyLatch,
								 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 timeout_ms < 0 ? CHILD_BATCH_MS :
								 Min(CHILD_BATCH_MS, timeout_ms),
								 PG_WAIT_EXTENSION);
			else
			{
				if (child.wait_set == NULL)
					child.wait_set = make_wait_set(&child);
				(void) WaitEventSetWait(child.wait_set, timeout_ms,
										&event, 1, PG_WAIT_EXTENSION);
			}
			ResetLatch(MyLatch);
			protech_backup_check_for_interrupts();
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(cleanup_child, PointerGetDatum(&child));
	cleanup_child(0, PointerGetDatum(&child));
	pfree(buf);
	if (input.pending.data != NULL)
		pfree(input.pending.data);

	return status;
}

/*
 * Resource owner release callback: kill the children started under the
 * resource owner being released (an abort, or a commit that leaked one).
 */
static void
release_children(ResourceReleasePhase phase, bool isCommit, bool isTopLevel,
				 void *arg)
{
	dlist_mutable_iter iter;

	if (phase != RESOURCE_RELEASE_BEFORE_LOCKS)
		return;
	dlist_foreach_modify(iter, &running_children)
	{
		ProtechBackupChild *child = dlist_container(ProtechBackupChild, node,
													iter.cur);

		if (child->owner != CurrentResourceOwner)
			continue;
		if (isCommit)
			elog(WARNING, "%s was still running at commit and was killed",
				 child->what);
		protech_backup_child_kill(child);
	}
}

/*
 * Start argv[0] with envp as a filter that runs alongside the caller (see
 * the file header), named what in messages: its standard input on a pipe
 * the caller writes with protech_backup_child_write when with_stdin (else
 * /dev/null), its standard output on a pipe the caller reads with
 * protech_backup_child_read or drains into a sink, its standard error
 * kept.  When timeout_s is positive, a child still running after that
 * many seconds is killed and an error raised by the next wait for it.
 * End it with protech_backup_child_finish or protech_backup_child_kill;
 * an abort of the current transaction kills it.
 */
ProtechBackupChild *
protech_backup_start_child(const char *what, const char *const *argv,
						   const char *const *envp, bool with_stdin,
						   int timeout_s)
{
	/* outlives the caller's memory context until the abort that kills it */
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	ProtechBackupChild *child = palloc0(sizeof(ProtechBackupChild));

	child->what = pstrdup(what);
	child->timeout_s = timeout_s;
	child->deadline = timeout_s > 0 ?
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_s * 1000L) : 0;
	initStringInfo(&child->tail);
	child->buf = palloc(CHILD_READ_CHUNK);
	MemoryContextSwitchTo(old);
	if (!release_callback_registered)
	{
		RegisterResourceReleaseCallback(release_children, NULL);
		release_callback_registered = true;
	}
	PG_TRY();
	{
		spawn_child(what, argv, envp, with_stdin, true, &child->proc);
	}
	PG_CATCH();
	{
		pfree(child->buf);
		pfree(child->tail.data);
		pfree((char *) child->what);
		pfree(child);
		PG_RE_THROW();
	}
	PG_END_TRY();
	child->owner = CurrentResourceOwner;
	dlist_push_head(&running_children, &child->node);
	return child;
}

/*
 * Take what the child has written to its standard output (into sink; it
 * must have none when sink is NULL: see protech_backup_child_read) and
 * standard error (into its tail) so far, without blocking.  Returns how
 * many bytes that was; a pipe at its end is closed.
 */
static size_t
take_output(ProtechBackupChild *child, ProtechBackupSink sink, void *sink_arg)
{
	size_t		got = 0;
	bool		closed = false;

	if (sink != NULL && child->proc.stdout_fd >= 0)
		closed |= drain_pipe(&child->proc.stdout_fd, child->buf, sink,
							 sink_arg, NULL, &got);
	if (child->proc.stderr_fd >= 0)
		closed |= drain_pipe(&child->proc.stderr_fd, child->buf, NULL, NULL,
							 &child->tail, &got);
	if (closed && child->proc.wait_set != NULL)
	{
		FreeWaitEventSet(child->proc.wait_set);
		child->proc.wait_set = NULL;
	}
	return got + (closed ? 1 : 0);
}

/*
 * Sleep in the latch loop until one of the child's pipes is ready (or its
 * exit, the latch, postmaster death), at most until its deadline.
 */
static void
wait_for_child(ProtechBackupChild *child)
{
	WaitEvent	event;
	long		timeout_ms = sleep_before_deadline(child->what, child->deadline,
												   child->timeout_s,
												   child->proc.pidfd >= 0 ? -1 : 100);

	if (child->proc.wait_set == NULL)
		child->proc.wait_set = make_wait_set(&child->proc);
	(void) WaitEventSetWait(child->proc.wait_set, timeout_ms, &event, 1,
							PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	protech_backup_check_for_interrupts();
}

/*
 * Raise external_routine_exception: the child stopped before its input
 * was all written or its output all read (it failed, or was killed),
 * quoting its exit status and the end of what it printed.
 */
static void
report_child_stopped(ProtechBackupChild *child)
{
	StringInfoData tail;
	char	   *what = pstrdup(child->what);
	int			status;

	initStringInfo(&tail);
	status = protech_backup_child_finish(child, NULL, NULL, &tail);
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("%s stopped before the end of the stream: %s",
					what, wait_result_to_str(status)),
			 errdetail("%s printed:\n%s", what,
					   tail.len > 0 ? protech_backup_last_lines(&tail, 5) :
					   "nothing")));
}

/*
 * Write len bytes of data to the child's standard input, handing what it
 * writes to its standard output to sink meanwhile, and waiting in the
 * latch loop whenever the pipe is full and the child has produced
 * nothing.  Raises an error when the child stops reading (see
 * report_child_stopped), or is interrupted.
 */
void
protech_backup_child_write(ProtechBackupChild *child, const char *data,
						   size_t len, ProtechBackupSink sink, void *sink_arg)
{
	while (len > 0)
	{
		ssize_t		n;

		protech_backup_check_for_interrupts();
		n = write(child->proc.stdin_fd, data, len);
		if (n > 0)
		{
			data += n;
			len -= n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE)
			report_child_stopped(child);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write input of %s: %m", child->what)));
		/* the pipe is full: take its output, or wait until it makes room */
		if (take_output(child, sink, sink_arg) == 0)
			wait_for_child(child);
	}
}

/*
 * Read up to size bytes of the child's standard output into buf, waiting
 * in the latch loop until there are some.  Returns how many, 0 at its end.
 */
ssize_t
protech_backup_child_read(ProtechBackupChild *child, char *buf, size_t size)
{
	for (;;)
	{
		ssize_t		n;

		protech_backup_check_for_interrupts();
		(void) take_output(child, NULL, NULL);
		if (child->proc.stdout_fd < 0)
			return 0;
		n = read(child->proc.stdout_fd, buf, size);
		if (n > 0)
			return n;
		if (n == 0)
		{
			close(child->proc.stdout_fd);
			child->proc.stdout_fd = -1;
			if (child->proc.wait_set != NULL)
				FreeWaitEventSet(child->proc.wait_set);
			child->proc.wait_set = NULL;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read output of %s: %m", child->what)));
		wait_for_child(child);
	}
}

/*
 * End the child's input, hand the rest of its standard output to sink
 * (dropped when sink is NULL), wait for it to exit, and return its wait
 * status (see wait_result_to_str), with the end of what it printed on
 * standard error appended to stderr_tail.  The child is gone afterwards.
 */
int
protech_backup_child_finish(ProtechBackupChild *child, ProtechBackupSink sink,
							void *sink_arg, StringInfo stderr_tail)
{
	int			status = 0;

	if (child->proc.stdin_fd >= 0)
	{
		close(child->proc.stdin_fd);
		child->proc.stdin_fd = -1;
		if (child->proc.wait_set != NULL)
			FreeWaitEventSet(child->proc.wait_set);
		child->proc.wait_set = NULL;
	}
	for (;;)
	{
		pid_t		r;

		if (sink == NULL && child->proc.stdout_fd >= 0)
		{
			/* drop what it still writes */
			while (protech_backup_child_read(child, child->buf,
											 CHILD_READ_CHUNK) > 0)
				;
		}
		if (take_output(child, sink, sink_arg) > 0)
			continue;
		if (child->proc.stdout_fd >= 0 || child->proc.stderr_fd >= 0)
		{
			wait_for_child(child);
			continue;
		}
		r = waitpid(child->proc.pid, &status, WNOHANG);
		if (r == child->proc.pid)
		{
			child->proc.pid = 0;
			break;
		}
		if (r < 0 && errno != EINTR)
			ereport(ERROR,
					(errmsg("could not wait for %s: %m", child->what)));
		wait_for_child(child);
	}
	appendBinaryStringInfo(stderr_tail, child->tail.data, child->tail.len);
	protech_backup_child_kill(child);
	return status;
}

/*
 * Kill the child (when it still runs), reap it and forget it.
 */
void
protech_backup_child_kill(ProtechBackupChild *child)
{
	cleanup_child(0, PointerGetDatum(&child->proc));
	dlist_delete(&child->node);
	pfree(child->buf);
	pfree(child->tail.data);
	pfree((char *) child->what);
	pfree(child);
}

/*
 * Output sink that collects a small output into the StringInfo arg.
 */
void
protech_backup_collect_output(const char *data, size_t len, void *arg)
{
	appendBinaryStringInfo((StringInfo) arg, data, len);
}

/*
 * The environment for a child: the server's own, less every PG* variable
 * (so nothing the postmaster was started with redirects the connection),
 * plus HOME, USER, LOGNAME and PATH where the server's environment lacks
 * them, plus the NULL-terminated list of "NAME=value" strings in extra.
 *
 * A server started by pg_ctlcluster has only what the cluster's
 * "environment" file says (nothing by default: no HOME, no PATH); the programs a post-backup command runs (rclone finds its
 * configuration under HOME) and the clients' ~/.pgpass need them, so HOME,
 * USER and LOGNAME come from the server user's passwd entry and PATH is
 * the standard /usr/local/bin:/usr/bin:/bin.
 */
const char **
protech_backup_child_environment(const char *const *extra)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *const defaults[] = {
		"HOME", pw ? pw->pw_dir : NULL,
		"USER", pw ? pw->pw_name : NULL,
		"LOGNAME", pw ? pw->pw_name : NULL,
		"PATH", "/usr/local/bin:/usr/bin:/bin",
	};
	int			n = lengthof(defaults) / 2;
	int			k = 0;
	const char **envp;

	for (char **e = environ; *e; e++)
		n++;
	for (const char *const *e = extra; *e; e++)
		n++;
	envp = palloc((n + 1) * sizeof(char *));
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "PG", 2) != 0)
			envp[k++] = *e;
	for (int i = 0; i < lengthof(defaults); i += 2)
	{
		const char *current = getenv(defaults[i]);

		if (current == NULL && defaults[i + 1] != NULL)
			envp[k++] = psprintf("%s=%s", defaults[i], defaults[i + 1]);
	}
	for (const char *const *e = extra; *e; e++)
		envp[k++] = *e;
	envp[k] = NULL;
	return envp;
}

/*
 * The last few lines of what a program printed, for errdetail.
 */
char *
protech_backup_last_lines(StringInfo output, int nlines)
{
	char	   *start;

	while (output->len > 0 && output->data[output->len - 1] == '\n')
		output->data[--output->len] = '\0';
	start = output->data + output->len;
	while (start > output->data && nlines > 0)
	{
		start--;
		if (*start == '\n' && --nlines == 0)
		{
			start++;
			break;
		}
	}
	return start;
}
