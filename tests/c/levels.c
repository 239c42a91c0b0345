/* The C half of tests/main_thread/crash_backtrace.rs: a call chain c_level_a -> c_level_b -> c_level_c
 * that ends in abort() (mode 1) or a NULL dereference (any other mode). Built by the test
 * (the `cc` crate) into a shared library the worker dlopen()s, so the frames come from a
 * module loaded after setup. The empty asm after each call keeps the calls from becoming
 * tail calls, noinline keeps the frames. */
#include <stdlib.h>

__attribute__((noinline)) void c_level_c(int mode) {
    if (mode == 1) {
        abort();
    }
    volatile int *null = (volatile int *)0;
    *null = 42;
}

__attribute__((noinline)) void c_level_b(int mode) {
    c_level_c(mode);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void c_level_a(int mode) {
    c_level_b(mode);
    __asm__ volatile("" ::: "memory");
}
