#include "spool_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static void cannot_run(const char *token, const char *program, const char *what, int error) {
    // the kernel's own text ("Exec format error") does not say what to change
    const char *hint = error == ENOEXEC
        ? " (not a program this machine runs: a script needs a #! line, e.g. #!/bin/sh; a binary must be built for this CPU)" : "";
    dprintf(2, "%s cannot run %s: %s%s%s\n", token, program, what, strerror(error), hint);
    _exit(127);
}

#ifdef __linux__
/// The program's pid, for the handler below: 0 until it is started, and again once it has
/// ended (before it is reaped, so the pid cannot belong to another process meanwhile).
static volatile pid_t spool_exec_program = 0;
/// The worker's pid, for the handler below.
static pid_t spool_exec_worker = 0;

/// The worker died (the kernel's PR_SET_PDEATHSIG signal), or it asks for the job's processes
/// to end (its handler timeout, a shutdown past the grace period, exiting at once): SIGKILL the
/// program, the process group it may have made of its own (`setsid`, `setpgid`: GNU `timeout`
/// does), and this process's group (the program's children, this process too), so that nothing
/// runs on while another worker reclaims the job. The signal from anyone else (a program's
/// `kill -40 0`) changes nothing: only a kill() of the worker's counts (SI_USER with its pid;
/// the kernel's parent-death signal comes after the worker is gone, when the parent is no
/// longer the worker). (The kernel sends that signal when the *thread* that spawned this
/// process ends; swift-subprocess spawns from one thread that lives as long as the worker.)
static void spool_exec_end_all(int signal, siginfo_t *info, void *context) {
    (void)signal;
    (void)context;
    int asked = info->si_code == SI_USER && info->si_pid == spool_exec_worker;
    if (!asked && getppid() == spool_exec_worker) return;
    pid_t program = spool_exec_program;
    if (program > 0) {
        kill(-program, SIGKILL);
        kill(program, SIGKILL);
    }
    kill(0, SIGKILL);
    _exit(137);
}

/// Gives `signal` its default action again.
static void spool_exec_default_action(int signal) {
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigaction(signal, &fallback, NULL);
}

/// Ends this process the way the program ended: its exit status, or its signal.
static void spool_exec_end_like(int status) {
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int signal = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    // no core file or crash report of this process: the program's death is its own
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    spool_exec_default_action(signal);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signal);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    kill(getpid(), signal);  // not raise(): glibc's refuses the signals it reserves (32, 33)
    _exit(128 + signal);
}
#endif

#if defined(__linux__) && defined(__GLIBC__)
/// Runs the trampoline before the executable's main, while the process surely has one
/// thread. In `spool` (the fallback trampoline) main is Swift's async main: the signal mask
/// covers only the thread that sets it, and were another thread running by then (the Swift
/// runtime's, dispatch's), a signal for the process (a program's `kill 0`) could land there
/// and end the trampoline. (It did not in a test on this toolchain: the async main's first
/// part runs on the main thread, before other threads start; this does not depend on that.)
/// glibc passes constructors argc and argv. Any other argv returns at once.
__attribute__((constructor)) static void spool_exec_before_main(int argc, char **argv, char **envp) {
    (void)envp;
    spool_exec_trampoline(argc, argv);
    // Started with stdin, stdout or stderr closed (`spool queues >&-`), the process would give
    // that number to the next descriptor it opens (the runtime's epoll one, a socket), and
    // output would go there. /dev/null opened read-only takes its place instead: reads see an
    // end of file and writes fail with EBADF, which `spool` reports (spool_flush_stdout).
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            int null = open("/dev/null", O_RDONLY);
            if (null >= 0 && null != fd) {
                dup2(null, fd);
                close(null);
            }
        }
    }
}
#endif

void spool_exec_trampoline(int argc, char **argv) {
    if (argc < 6 || strcmp(argv[1], SPOOL_EXEC_TRAMPOLINE_FLAG) != 0) {
        return;
    }
    const char *token = argv[2];
    pid_t worker = (pid_t)strtol(argv[3], NULL, 10);
    unsigned long long soft = strtoull(argv[4], NULL, 10);
    char **program = argv + 5;
#ifdef __linux__
    // Every signal but SPOOL_EXEC_END_SIGNAL is held back from this process (one the program
    // sends its own group, `kill 0` in a `trap … EXIT`, must not end it before the program):
    // it only waits for the program and ends as the program did. SIGKILL still reaches it.
    int end_signal = SPOOL_EXEC_END_SIGNAL;
    if (end_signal < SIGRTMIN || end_signal > SIGRTMAX) {
        cannot_run(token, program[0], "SPOOL_EXEC_END_SIGNAL is not a real-time signal here: ", EINVAL);
    }
    spool_exec_worker = worker;
    sigset_t all, original;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &original);
    struct sigaction on_end;
    memset(&on_end, 0, sizeof on_end);
    on_end.sa_sigaction = spool_exec_end_all;
    on_end.sa_flags = SA_SIGINFO;
    sigfillset(&on_end.sa_mask);
    sigaction(end_signal, &on_end, NULL);
    if (prctl(PR_SET_PDEATHSIG, end_signal, 0, 0, 0) != 0) {
        cannot_run(token, program[0], "prctl(PR_SET_PDEATHSIG): ", errno);
    }
#endif
    // the worker died before the line above took effect: no signal will come
    if (getppid() != worker) {
        raise(SIGKILL);
        _exit(137);
    }
    // the worker raised its soft limit to the hard one; programs get what the worker got
    struct rlimit limit;
    if (soft > 0 && getrlimit(RLIMIT_NOFILE, &limit) == 0 && soft < limit.rlim_cur) {
        limit.rlim_cur = (rlim_t)soft;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
#ifdef __linux__
    // The program runs as this process's child, in the same process group, so that when the
    // worker dies the handler above can kill what the program started too: the kernel's
    // signal reaches only the worker's direct child. vfork, not fork: this process waits
    // while the child, sharing its memory, only sets its signals and calls execv (or writes
    // why not and exits); fork cost `spool worker --exec /bin/true` 11% of its rate, vfork 3%
    // (docs/performance.md, "Stop 28"). Every signal stays blocked in the child until it has
    // given SPOOL_EXEC_END_SIGNAL its default action back, so the handler never runs there.
    pid_t self = getpid();
    pid_t child = vfork();
    if (child < 0) {
        cannot_run(token, program[0], "vfork: ", errno);
    }
    if (child == 0) {
        // dies with this process (which a SIGKILL of its own may end)
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != self) {
            _exit(137);
        }
        spool_exec_default_action(end_signal);
        sigprocmask(SIG_SETMASK, &original, NULL);
        execv(program[0], program);
        cannot_run(token, program[0], "", errno);
    }
    spool_exec_program = child;
    sigset_t end_only;
    sigemptyset(&end_only);
    sigaddset(&end_only, end_signal);
    sigprocmask(SIG_UNBLOCK, &end_only, NULL);
    // the pipes stay the program's alone: the worker reads to their end once it has exited
    close(0);
    close(1);
    close(2);
    // waited for without reaping, so that its pid stays its own while the handler may use it
    siginfo_t ended;
    while (waitid(P_PID, (id_t)child, &ended, WEXITED | WNOWAIT) < 0) {
        if (errno != EINTR) _exit(127);
    }
    spool_exec_program = 0;
    int status;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) _exit(127);
    }
    spool_exec_end_like(status);
#else
    execv(program[0], program);
    cannot_run(token, program[0], "", errno);
#endif
}

int spool_flush_stdout(void) {
    errno = 0;
    int flushed = fflush(stdout);
    int error = flushed != 0 ? errno : 0;   // errno tells only about a failed fflush
    if (flushed == 0 && !ferror(stdout)) {
        return 0;
    }
    if (error == EPIPE) {
        return EPIPE;
    }
    // an earlier write failed (its errno is gone): a pipe without a reader reports POLLERR
    struct pollfd out = {.fd = STDOUT_FILENO, .events = 0, .revents = 0};
    if (poll(&out, 1, 0) == 1 && (out.revents & POLLERR)) {
        return EPIPE;
    }
    return error != 0 ? error : EIO;
}
