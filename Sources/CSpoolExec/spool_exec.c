#include "spool_exec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static void cannot_run(const char *token, const char *program, const char *what, int error) {
    dprintf(2, "%s cannot run %s: %s%s\n", token, program, what, strerror(error));
    _exit(127);
}

void spool_exec_trampoline(int argc, char **argv) {
    if (argc < 6 || strcmp(argv[1], SPOOL_EXEC_TRAMPOLINE_FLAG) != 0) {
        return;
    }
    const char *token = argv[2];
    pid_t worker = (pid_t)strtol(argv[3], NULL, 10);
    unsigned long long soft = strtoull(argv[4], NULL, 10);
    char **program = argv + 5;
#ifdef __linux__
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
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
    execv(program[0], program);
    cannot_run(token, program[0], "", errno);
}
