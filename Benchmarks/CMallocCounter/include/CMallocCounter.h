#ifndef SPOOL_BENCH_MALLOC_COUNTER_H
#define SPOOL_BENCH_MALLOC_COUNTER_H

/// Heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign)
/// made so far by the calling thread, counted by the wrappers in malloc_counter.c.
unsigned long long spool_bench_thread_allocations(void);

/// Heap allocations made so far by every thread of the process.
unsigned long long spool_bench_process_allocations(void);

#endif
