#ifndef EVALENGINE_SPAWN_SHIM_H
#define EVALENGINE_SPAWN_SHIM_H
#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (NULL: this process's environment) in `directory` (NULL:
/// ours). `stdio` gives the child's descriptors 0, 1 and 2: a descriptor of ours to copy, -1 for
/// /dev/null, -2 to inherit ours. Every other descriptor is closed in the child, its signal mask
/// is empty and every signal has its default action (we ignore SIGPIPE; a scorer must not).
/// Returns 0 and sets `pid`, or an errno value (an executable that cannot be run included).
int evalengine_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *directory, const int stdio[3]);

/// pipe(2) with both ends closed on exec (pipe2 where there is one). Returns 0, or -1 and errno.
int evalengine_pipe(int fds[2]);

#endif
