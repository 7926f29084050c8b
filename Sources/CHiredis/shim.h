#ifndef SPOOL_CHIREDIS_SHIM_H
#define SPOOL_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
/* for ConnectionLoop's wake-ups (not in Swift's Glibc module) */
#include <sys/eventfd.h>
#endif
