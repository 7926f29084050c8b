#ifndef SPOOL_CHIREDIS_SHIM_H
#define SPOOL_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
