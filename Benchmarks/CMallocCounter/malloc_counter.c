// Counts heap allocations per thread for `spool-bench micro`, without LD_PRELOAD.
//
// spool-bench defines malloc and friends itself. The dynamic linker binds every library's
// malloc (libswiftCore, Foundation, hiredis) to the executable's definition first, so each
// call lands here; we bump a thread-local counter and forward to glibc's own allocator
// through its exported __libc_* entry points. free needs no wrapper: the memory is glibc's.
// The cost is one thread-local increment per allocation, plus one uncontended atomic add
// for the process-wide count: each thread adds to its own cache line of `slots` (threads
// take slots in turn; past 64 threads two may share one, which stays correct, only slower).
#include <errno.h>
#include <stddef.h>
#include "CMallocCounter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static __thread unsigned long long allocations;

#define SLOT_COUNT 64
static struct { _Alignas(64) unsigned long long count; } slots[SLOT_COUNT];
static unsigned int next_slot;
static __thread int slot = -1;

static inline void count_allocation(void) {
    allocations++;
    if (slot < 0) slot = (int)(__atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED) % SLOT_COUNT);
    __atomic_fetch_add(&slots[slot].count, 1, __ATOMIC_RELAXED);
}

unsigned long long spool_bench_thread_allocations(void) { return allocations; }

unsigned long long spool_bench_process_allocations(void) {
    unsigned long long total = 0;
    for (int index = 0; index < SLOT_COUNT; index++) total += __atomic_load_n(&slots[index].count, __ATOMIC_RELAXED);
    return total;
}

void *malloc(size_t size) {
    count_allocation();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    count_allocation();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    count_allocation();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    count_allocation();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count_allocation();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count_allocation();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}
