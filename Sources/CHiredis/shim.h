#ifndef SPOOL_CHIREDIS_SHIM_H
#define SPOOL_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
/* for ConnectionLoop's wake-ups (not in Swift's Glibc module) */
#include <sys/eventfd.h>
#ifdef __linux__
#include <sys/prctl.h>
/* Names the calling thread (the kernel keeps 15 bytes): prctl is variadic, which Swift cannot
   call, and pthread_setname_np needs _GNU_SOURCE. */
static inline int spool_name_this_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}
#endif
#endif
