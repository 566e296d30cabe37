#ifndef SLUICE_SQLITE_TUNING_H
#define SLUICE_SQLITE_TUNING_H

/// Turns off SQLite's memory statistics, whose global mutex every allocation takes.
/// Must run before the first connection opens; returns SQLite's result code (SQLITE_MISUSE after).
int sluice_sqlite_disable_memstatus(void);

#endif
