#ifndef SPOOL_EXEC_H
#define SPOOL_EXEC_H

/// The argv[1] that makes `spool` (or `spool-exec`, Sources/SpoolExec) the exec trampoline
/// (never a real subcommand). Change the version when the arguments change.
#define SPOOL_EXEC_TRAMPOLINE_FLAG "--spool-exec-trampoline-v1"

/// The signal the trampoline ends the job's processes on (Linux): it asks the kernel for it
/// when the worker dies (PR_SET_PDEATHSIG), and the worker sends it to the trampoline at the
/// handler timeout, past a shutdown's grace period and when exiting at once, before it
/// SIGKILLs the process group. A fixed real-time signal (SIGRTMIN is 34 with glibc, 35 with
/// musl; the trampoline refuses to run when this one is not real-time), the same in the
/// worker and in `spool-exec`, whichever libc each was linked with.
#define SPOOL_EXEC_END_SIGNAL 40

/// When argv is
/// `spool|spool-exec SPOOL_EXEC_TRAMPOLINE_FLAG <token> <worker pid> <soft fd limit> <program> [args...]`,
/// runs the exec trampoline and never returns. On Linux: holds back every signal but
/// SPOOL_EXEC_END_SIGNAL, asks the kernel for that one when its parent dies (PR_SET_PDEATHSIG),
/// dies at once if the worker already died (getppid() differs), sets the soft RLIMIT_NOFILE
/// back to `soft fd limit` (0: leave it), starts the program as its child in the same process
/// group (vfork, execv with the same environment; the child dies with this process), and ends
/// as the program did (its exit status, or its signal). On SPOOL_EXEC_END_SIGNAL from the
/// kernel or the worker it SIGKILLs the program, a process group the program made of its own,
/// and its own process group, so what the program started dies too. Elsewhere it execv()s the
/// program in its own place.
/// If execv fails it writes "<token> cannot run <program>: <reason>" to stderr and exits
/// with 127, so the worker can tell "never started" from the program's own failure.
/// Any other argv: returns at once.
void spool_exec_trampoline(int argc, char **argv);

/// Flushes stdout's stdio buffer (Swift's `print` writes there) and tells whether everything
/// written to it got out: 0 if so, EPIPE when its reader is gone (a pipe whose read end is
/// closed), else the error number of the failed write (EIO when none is known). `spool` calls
/// it before exiting 0, so a table cut short by `| head` ends the command as SIGPIPE would, and
/// a failed write is never a silent success.
int spool_flush_stdout(void);

#endif
