#ifndef SPOOL_EXEC_H
#define SPOOL_EXEC_H

/// The argv[1] that makes `spool` (or `spool-exec`, Sources/SpoolExec) the exec trampoline
/// (never a real subcommand). Change the version when the arguments change.
#define SPOOL_EXEC_TRAMPOLINE_FLAG "--spool-exec-trampoline-v1"

/// When argv is
/// `spool|spool-exec SPOOL_EXEC_TRAMPOLINE_FLAG <token> <worker pid> <soft fd limit> <program> [args...]`,
/// runs the exec trampoline and never returns: asks the kernel to SIGKILL this process when
/// its parent dies (Linux PR_SET_PDEATHSIG, kept across execve), dies at once if the worker
/// already died (getppid() differs), sets the soft RLIMIT_NOFILE back to `soft fd limit`
/// (0: leave it), then execv()s the program with the same environment.
/// If execv fails it writes "<token> cannot run <program>: <reason>" to stderr and exits
/// with 127, so the worker can tell "never started" from the program's own failure.
/// Any other argv: returns at once.
void spool_exec_trampoline(int argc, char **argv);

#endif
