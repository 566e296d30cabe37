#ifndef SLUICE_PROCESS_CONTROL_H
#define SLUICE_PROCESS_CONTROL_H

/// Makes the calling process a child subreaper (Linux `prctl(PR_SET_CHILD_SUBREAPER)`): orphaned
/// descendants are reparented to it instead of to init. Process-wide. Returns 0, or -1 where the
/// platform has no such setting.
int sluice_set_child_subreaper(int enabled);

/// 1 when the calling process is a child subreaper, 0 when not or where the platform has none.
int sluice_is_child_subreaper(void);

#include <spawn.h>
#include <stddef.h>
#include <sys/types.h>

/// Makes a child started with `actions` close every descriptor above 2 it would inherit: posix_spawn
/// hands it every descriptor not marked close-on-exec, and Foundation opens pipes and files without
/// that mark, so a long-lived child started while another thread held one would keep it (a reader
/// that never sees the end, a copied program that cannot run: "Text file busy"). Returns 0, or
/// ENOSYS where the C library has no such action (glibc before 2.34).
int sluice_spawn_actions_close_inherited(posix_spawn_file_actions_t *actions);

/// The exit code in a waitpid status, or 128 + the signal that ended the process.
int sluice_exit_code(int status);

/// A child started with its three standard streams on pipes to this process.
typedef struct {
    pid_t pid;
    /// The write end of the child's standard input; -1 once closed.
    int input;
    /// The read ends of its standard output and error; -1 once closed.
    int output;
    int error;
} sluice_piped_child;

/// Bytes read from a child, grown with realloc: the caller frees `bytes`.
typedef struct {
    unsigned char *bytes;
    size_t length;
    size_t capacity;
    /// 1 when more came than the limit and the rest was dropped.
    int truncated;
} sluice_buffer;

/// Starts `program` (looked up on PATH when it has no slash) with `argv` and `envp` in `directory`
/// (NULL: this process's), its standard streams on pipes, every other descriptor closed, signals at
/// their defaults, in this process's group. posix_spawn: no copy of this process's memory is made.
/// Returns 0 or an errno.
int sluice_spawn_piped(
    const char *program, char *const argv[], char *const envp[], const char *directory, sluice_piped_child *child);

/// Feeds `input` to the child's standard input (then closes it), reads its output and error to
/// their ends (keeping at most the limits), and waits for it to end: `status` is its exit code, or
/// 128 + the signal that ended it. With `timeout_ms` >= 0, a child still running then is handed to
/// `kill_tree` (which kills it and what it started) and `timed_out` set; pipes still open 2 s later
/// (held by a process that left its tree) are closed. The child is left unreaped (its pid stays
/// reserved): call sluice_reap. Blocks the calling thread. Returns 0 or an errno.
int sluice_collect_piped(
    sluice_piped_child *child, const unsigned char *input, size_t input_length, sluice_buffer *output,
    size_t output_limit, sluice_buffer *error, size_t error_limit, int timeout_ms, void (*kill_tree)(pid_t),
    int *timed_out, int *status);

/// Reaps a child that sluice_collect_piped waited for.
void sluice_reap(pid_t pid);

#endif
