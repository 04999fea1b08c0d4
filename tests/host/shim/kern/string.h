/* Host-test stand-in for kern/string.h: the host libc provides these. */
#include <string.h>
