/*
 * The hardware tests init runs in its own process (hwtest.c): they need the
 * root handle, which only init has.
 */
#ifndef INIT_HWTEST_H
#define INIT_HWTEST_H

/* Result lines hwtest_run() prints ("[test] PASS/FAIL user.hw_*"): add to
 * the PLAN. */
#define HWTEST_COUNT 11

/* Run every hardware test; returns how many failed. Uses ports 0x70-0x71
 * (the CMOS RTC) and GSI 8; init's calling thread keeps the port access. */
int hwtest_run(void);

#endif
