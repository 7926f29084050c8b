#ifndef SPOOL_SPAWN_H
#define SPOOL_SPAWN_H

#include <spawn.h>

/// Adds to `actions` the closing of every descriptor from `lowest` up, so that a spawned
/// program (the private redis-server) inherits none of its caller's other descriptors, such
/// as a pipe a shell gave `spool` (`spool redis start 7>&1 | cat` would wait for the server).
/// glibc 2.34 and later: posix_spawn_file_actions_addclosefrom_np, which Swift cannot see
/// (it needs _GNU_SOURCE); before that, one close per descriptor open now (from /proc/self/fd).
/// Returns 0, or an errno value.
int spool_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

#endif
