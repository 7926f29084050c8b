#include "spool_exec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static void cannot_run(const char *token, const char *program, const char *what, int error) {
    dprintf(2, "%s cannot run %s: %s%s\n", token, program, what, strerror(error));
    _exit(127);
}

#ifdef __linux__
/// The program's pid, for the handler below (0 until it is started).
static volatile pid_t spool_exec_program = 0;

/// The worker died: SIGKILL the program and everything else in the process group (its
/// children, this process too), so nothing runs on while another worker reclaims the job.
static void spool_exec_worker_died(int signal) {
    (void)signal;
    if (spool_exec_program > 0) kill(spool_exec_program, SIGKILL);  // also when it left the group
    kill(0, SIGKILL);
    _exit(137);
}

/// Ends this process the way the program ended: its exit status, or its signal.
static void spool_exec_end_like(int status) {
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int signal = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // the program dumped its own core, if any
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigaction(signal, &fallback, NULL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, signal);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    raise(signal);
    _exit(128 + signal);
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
    // Every signal but the worker's death is held back from this process (one the program
    // sends its own group, `kill 0` in a `trap … EXIT`, must not end it before the program):
    // it only waits for the program and ends as the program did. SIGKILL still reaches it.
    int death = SIGRTMIN;
    sigset_t all, original;
    sigfillset(&all);
    sigdelset(&all, death);
    sigprocmask(SIG_BLOCK, &all, &original);
    struct sigaction on_death;
    memset(&on_death, 0, sizeof on_death);
    on_death.sa_handler = spool_exec_worker_died;
    sigfillset(&on_death.sa_mask);
    sigaction(death, &on_death, NULL);
    if (prctl(PR_SET_PDEATHSIG, death, 0, 0, 0) != 0) {
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
    // (docs/performance.md, "Stop 28").
    pid_t self = getpid();
    pid_t child = vfork();
    if (child < 0) {
        cannot_run(token, program[0], "vfork: ", errno);
    }
    if (child == 0) {
        // dies with this process (which the kernel's SIGKILL alone may end)
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != self) {
            _exit(137);
        }
        struct sigaction fallback;
        memset(&fallback, 0, sizeof fallback);
        fallback.sa_handler = SIG_DFL;
        sigaction(death, &fallback, NULL);
        sigprocmask(SIG_SETMASK, &original, NULL);
        execv(program[0], program);
        cannot_run(token, program[0], "", errno);
    }
    spool_exec_program = child;
    // the pipes stay the program's alone: the worker reads to their end once it has exited
    close(0);
    close(1);
    close(2);
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
