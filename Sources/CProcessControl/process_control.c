#include "sluice_process_control.h"

#if defined(__linux__)
#include <sys/prctl.h>

// prctl is variadic, which Swift cannot call: these wrap the two uses Sluice has for it.
int sluice_set_child_subreaper(int enabled) {
    return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)(enabled ? 1 : 0), 0UL, 0UL, 0UL);
}

int sluice_is_child_subreaper(void) {
    int value = 0;
    if (prctl(PR_GET_CHILD_SUBREAPER, (unsigned long)&value, 0UL, 0UL, 0UL) != 0) return 0;
    return value ? 1 : 0;
}
#else
int sluice_set_child_subreaper(int enabled) {
    (void)enabled;
    return -1;
}

int sluice_is_child_subreaper(void) { return 0; }
#endif
