/*
 * Every lib/rt source plus the fake kernel and host platform, as one
 * translation unit for host unit tests (the host test build compiles a
 * single file per test). Include after <cmocka.h>.
 */
#include "../loop.c"
#include "../fibril.c"
#include "../ctx.c"
#include "../timer.c"
#include "../stream.c"
#include "../log.c"
#include "fake_kernel.c"
#include "plat_host.c"
