#include <sqlite3.h>
#include "sluice_sqlite_tuning.h"

// sqlite3_config is variadic, which Swift cannot call directly.
int sluice_sqlite_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
