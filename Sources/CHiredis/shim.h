#ifndef SPOOL_CHIREDIS_SHIM_H
#define SPOOL_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
/* for ConnectionLoop's wake-ups (not in Swift's Glibc module) */
#include <sys/eventfd.h>
#ifdef __linux__
/* Names the calling thread (at most 15 bytes are kept): prctl is variadic, which Swift
   cannot call, and pthread_setname_np needs _GNU_SOURCE. The prototype alone, rather than
   <sys/prctl.h>: nothing else of that header is needed. */
int prctl(int option, ...);
static inline int spool_name_this_thread(const char *name) {
    return prctl(15 /* PR_SET_NAME */, (unsigned long)name, 0UL, 0UL, 0UL);
}
#endif
#endif
