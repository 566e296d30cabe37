#ifndef SLUICE_PROCESS_CONTROL_H
#define SLUICE_PROCESS_CONTROL_H

/// Makes the calling process a child subreaper (Linux `prctl(PR_SET_CHILD_SUBREAPER)`): orphaned
/// descendants are reparented to it instead of to init. Process-wide. Returns 0, or -1 where the
/// platform has no such setting.
int sluice_set_child_subreaper(int enabled);

/// 1 when the calling process is a child subreaper, 0 when not or where the platform has none.
int sluice_is_child_subreaper(void);

#endif
