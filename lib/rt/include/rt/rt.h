/*
 * lib/rt: the runtime every Alder server is built on (docs/RUNTIME.md).
 * One include for everything: loop and ops, fibrils, timers and events,
 * stream helpers, logging.
 */
#ifndef RT_RT_H
#define RT_RT_H

#include "loop.h"
#include "fibril.h"
#include "timer.h"
#include "stream.h"
#include "log.h"

#endif
