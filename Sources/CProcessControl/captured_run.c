// posix_spawn_file_actions_addchdir_np and addclosefrom_np are GNU extensions.
#define _GNU_SOURCE 1
#include "sluice_process_control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__) && defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define SLUICE_HAS_CLOSEFROM 1
#endif

int sluice_spawn_actions_close_inherited(posix_spawn_file_actions_t *actions) {
#ifdef SLUICE_HAS_CLOSEFROM
    return posix_spawn_file_actions_addclosefrom_np(actions, 3);
#else
    (void)actions;
    return ENOSYS;
#endif
}

int sluice_exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int sluice_spawn_piped(
    const char *program, char *const argv[], char *const envp[], const char *directory, sluice_piped_child *child) {
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        int error = errno;
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0) close(in[i]);
            if (out[i] >= 0) close(out[i]);
            if (err[i] >= 0) close(err[i]);
        }
        return error;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    // Descriptors another thread opened without close-on-exec stay out of the child.
    sluice_spawn_actions_close_inherited(&actions);
    if (directory != NULL) posix_spawn_file_actions_addchdir_np(&actions, directory);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // The child starts with default signal handling and no blocked signals, whatever this process set.
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    // This process's group: a Ctrl-C at the terminal reaches it as it reaches Sluice.
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = 0;
    int result = posix_spawnp(&pid, program, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (result != 0) {
        close(in[1]);
        close(out[0]);
        close(err[0]);
        return result;
    }
    child->pid = pid;
    child->input = in[1];
    child->output = out[0];
    child->error = err[0];
    return 0;
}

/// Appends what `fd` has now to `buffer`, up to `limit` kept bytes (the rest is read and dropped, and
/// `truncated` set). Returns 1 at end of file, 0 otherwise, -1 on an error (errno).
static int drain(int fd, sluice_buffer *buffer, size_t limit) {
    char chunk[65536];
    ssize_t count = read(fd, chunk, sizeof chunk);
    if (count < 0) return (errno == EINTR || errno == EAGAIN) ? 0 : -1;
    if (count == 0) return 1;
    size_t keep = (size_t)count;
    if (buffer->length + keep > limit) {
        keep = limit > buffer->length ? limit - buffer->length : 0;
        buffer->truncated = 1;
    }
    if (keep > 0) {
        if (buffer->length + keep > buffer->capacity) {
            size_t capacity = buffer->capacity ? buffer->capacity : 4096;
            while (capacity < buffer->length + keep) capacity *= 2;
            unsigned char *grown = realloc(buffer->bytes, capacity);
            if (grown == NULL) return -1;
            buffer->bytes = grown;
            buffer->capacity = capacity;
        }
        memcpy(buffer->bytes + buffer->length, chunk, keep);
        buffer->length += keep;
    }
    return 0;
}

static long long monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int sluice_collect_piped(
    sluice_piped_child *child, const unsigned char *input, size_t input_length, sluice_buffer *output,
    size_t output_limit, sluice_buffer *error, size_t error_limit, int timeout_ms, void (*kill_tree)(pid_t),
    int *timed_out, int *status) {
    size_t written = 0;
    int failure = 0;
    *timed_out = 0;
    // Past the deadline the child is killed; what it left holding its pipes gets a moment more, then
    // the pipes are closed on this side, so nothing it started can keep this thread waiting.
    long long deadline = timeout_ms >= 0 ? monotonic_ms() + timeout_ms : -1;
    // A child that exits before reading its input makes the write fail with EPIPE and raise SIGPIPE,
    // which would end this process: the signal is blocked on this thread, and taken if raised.
    sigset_t pipe_signal, old_mask;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask);
    if (input_length == 0) {
        close(child->input);
        child->input = -1;
    } else {
        fcntl(child->input, F_SETFL, fcntl(child->input, F_GETFL) | O_NONBLOCK);
    }
    while (child->input >= 0 || child->output >= 0 || child->error >= 0) {
        struct pollfd fds[3];
        int count = 0;
        if (child->input >= 0) fds[count++] = (struct pollfd){.fd = child->input, .events = POLLOUT};
        if (child->output >= 0) fds[count++] = (struct pollfd){.fd = child->output, .events = POLLIN};
        if (child->error >= 0) fds[count++] = (struct pollfd){.fd = child->error, .events = POLLIN};
        int wait_ms = -1;
        if (deadline >= 0) {
            long long left = deadline - monotonic_ms();
            if (left <= 0) {
                if (*timed_out) break;
                *timed_out = 1;
                kill_tree(child->pid);
                deadline = monotonic_ms() + 2000;
                continue;
            }
            wait_ms = left > 60000 ? 60000 : (int)left;
        }
        if (poll(fds, (nfds_t)count, wait_ms) < 0) {
            if (errno == EINTR) continue;
            failure = errno;
            break;
        }
        for (int i = 0; i < count; i++) {
            if (fds[i].revents == 0) continue;
            if (fds[i].fd == child->input) {
                ssize_t sent = write(child->input, input + written, input_length - written);
                if (sent > 0) written += (size_t)sent;
                if (sent < 0 && errno == EPIPE) {
                    struct timespec now = {0, 0};
                    sigtimedwait(&pipe_signal, NULL, &now);
                }
                // A child that stops reading (it exited, or closed its input) takes no more.
                if ((sent < 0 && errno != EAGAIN && errno != EINTR) || written == input_length) {
                    close(child->input);
                    child->input = -1;
                }
            } else {
                int *fd = fds[i].fd == child->output ? &child->output : &child->error;
                int ended = drain(*fd, fds[i].fd == child->output ? output : error,
                    fds[i].fd == child->output ? output_limit : error_limit);
                if (ended != 0) {
                    if (ended < 0 && failure == 0) failure = errno;
                    close(*fd);
                    *fd = -1;
                }
            }
        }
    }
    if (child->input >= 0) close(child->input);
    if (child->output >= 0) close(child->output);
    if (child->error >= 0) close(child->error);
    child->input = child->output = child->error = -1;
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    // Waited for, not reaped: the pid stays the child's until sluice_reap, so a signal sent to it
    // meanwhile can never reach another process that was given the number.
    siginfo_t info;
    memset(&info, 0, sizeof info);
    while (waitid(P_PID, (id_t)child->pid, &info, WEXITED | WNOWAIT) < 0) {
        if (errno != EINTR) return errno;
    }
    *status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    return failure;
}

void sluice_reap(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}
