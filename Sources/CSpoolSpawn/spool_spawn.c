#define _GNU_SOURCE
#include "spool_spawn.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

int spool_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
#else
    DIR *directory = opendir("/proc/self/fd");
    if (directory == NULL) return errno;
    int own = dirfd(directory);
    int result = 0;
    struct dirent *entry;
    while (result == 0 && (entry = readdir(directory)) != NULL) {
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd < lowest || fd == own) continue;
        result = posix_spawn_file_actions_addclose(actions, (int)fd);
    }
    closedir(directory);
    return result;
#endif
}
