// `spool-exec`: the trampoline `spool worker --exec` starts each program through on Linux
// (docs/worker.md). The same code as the one built into `spool` (CSpoolExec), in a program
// linked only against libc: it starts in well under a millisecond, where the `spool` binary
// (the Swift runtime, Foundation) costs several milliseconds of CPU per job.
//
//   spool-exec --spool-exec-trampoline-v1 <token> <worker pid> <soft fd limit> <program> [args...]

#include "spool_exec.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    spool_exec_trampoline(argc, argv);
    // Not this version's argv: most likely a spool-exec of another version of spool beside
    // the worker. Said with the worker's token, so the job is handed back unstarted.
    static const char prefix[] = "--spool-exec-trampoline-";
    if (argc >= 3 && strncmp(argv[1], prefix, sizeof prefix - 1) == 0) {
        dprintf(2, "%s cannot run the program: %s speaks %s, the worker %s (spool-exec from another version of spool?)\n",
                argv[2], argv[0], SPOOL_EXEC_TRAMPOLINE_FLAG, argv[1]);
        return 127;
    }
    fprintf(stderr,
            "spool-exec is the trampoline of `spool worker --exec`, not a command to run by hand.\n"
            "usage: spool-exec %s <token> <worker pid> <soft fd limit> <program> [args...]\n",
            SPOOL_EXEC_TRAMPOLINE_FLAG);
    return 2;
}
