/**
 * Assay's strict seccomp profile (docs/security.md, "Syscalls"): an allow-list, so a syscall nobody listed is refused
 * with EPERM. It allows what ordinary programs (shells, Python, Node, compilers, numeric code) call and leaves out
 * everything that changes the kernel's view of the world: namespaces and mounts, tracing, BPF, keyrings, perf
 * events, kernel modules, userfaultfd, clocks, reboot and swap, and the new mount API. Unlike the runtime's
 * default profile, it allows none of these even to a process holding a capability, and it has no `personality`,
 * `io_uring` or `process_vm_*` either.
 *
 * Installed on every node as `<kubelet root>/seccomp/assay/strict.json` (the local stack writes it; a cluster's
 * operator installs it with the Helm chart or their node image) and selected with `spec.security.seccomp: strict`.
 */

/** Syscalls no evaluation may make under the strict profile (the list and their relatives). */
export const strictDenied = [
  'unshare',
  'setns',
  'mount',
  'umount',
  'umount2',
  'pivot_root',
  'chroot',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'move_mount',
  'open_tree',
  'mount_setattr',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'bpf',
  'keyctl',
  'add_key',
  'request_key',
  'perf_event_open',
  'init_module',
  'finit_module',
  'delete_module',
  'kexec_load',
  'kexec_file_load',
  'userfaultfd',
  'reboot',
  'swapon',
  'swapoff',
  'acct',
  'quotactl',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'sethostname',
  'setdomainname',
  'iopl',
  'ioperm',
  'open_by_handle_at',
  'name_to_handle_at',
  'lookup_dcookie',
  'fanotify_init',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'personality',
  'vhangup',
  'syslog',
  'uselib',
  'ustat',
  'sysfs',
  '_sysctl',
  'nfsservctl',
  'move_pages',
  'migrate_pages',
  'mbind',
  'set_mempolicy',
  'clone3',
] as const;

/**
 * Syscalls the strict profile allows. `clone3` is left out on purpose: its flags live in a struct seccomp cannot
 * inspect, so it could create namespaces; refused with ENOSYS, C libraries fall back to `clone`, whose flags the
 * profile does inspect.
 */
export const strictAllowed = [
  // files and descriptors
  'read', 'write', 'open', 'openat', 'openat2', 'close', 'close_range', 'creat', 'lseek', 'pread64', 'pwrite64',
  'readv', 'writev', 'preadv', 'pwritev', 'preadv2', 'pwritev2', 'stat', 'fstat', 'lstat', 'newfstatat', 'statx',
  'statfs', 'fstatfs', 'access', 'faccessat', 'faccessat2', 'dup', 'dup2', 'dup3', 'fcntl', 'flock', 'fsync',
  'fdatasync', 'sync', 'syncfs', 'sync_file_range', 'truncate', 'ftruncate', 'fallocate', 'fadvise64', 'readahead',
  'getdents', 'getdents64', 'getcwd', 'chdir', 'fchdir', 'rename', 'renameat', 'renameat2', 'mkdir', 'mkdirat',
  'rmdir', 'link', 'linkat', 'unlink', 'unlinkat', 'symlink', 'symlinkat', 'readlink', 'readlinkat', 'chmod',
  'fchmod', 'fchmodat', 'fchmodat2', 'chown', 'fchown', 'lchown', 'fchownat', 'umask', 'utime', 'utimes',
  'utimensat', 'futimesat', 'mknod', 'mknodat', 'sendfile', 'splice', 'tee', 'vmsplice', 'copy_file_range',
  'ioctl', 'pipe', 'pipe2', 'memfd_create', 'setxattr', 'lsetxattr', 'fsetxattr', 'getxattr', 'lgetxattr',
  'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr', 'fremovexattr',
  'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch', 'io_setup', 'io_destroy',
  'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents',
  // memory
  'brk', 'mmap', 'munmap', 'mremap', 'mprotect', 'msync', 'mincore', 'madvise', 'mlock', 'mlock2', 'munlock',
  'mlockall', 'munlockall', 'get_mempolicy', 'membarrier', 'pkey_alloc', 'pkey_free', 'pkey_mprotect',
  'remap_file_pages', 'shmget', 'shmat', 'shmdt', 'shmctl',
  // processes, threads and signals
  'clone', 'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'kill', 'tkill',
  'tgkill', 'getpid', 'getppid', 'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid', 'getuid',
  'geteuid', 'getgid', 'getegid', 'setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'getresuid',
  'setresgid', 'getresgid', 'setfsuid', 'setfsgid', 'getgroups', 'setgroups', 'capget', 'capset', 'prctl',
  'arch_prctl', 'set_tid_address', 'set_robust_list', 'get_robust_list', 'rseq', 'restart_syscall', 'futex',
  'futex_waitv', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigtimedwait',
  'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'rt_sigsuspend', 'sigaltstack', 'pause', 'pidfd_open',
  'pidfd_send_signal', 'pidfd_getfd', 'getrlimit', 'setrlimit', 'prlimit64', 'getrusage', 'getpriority',
  'setpriority', 'sched_yield', 'sched_setparam', 'sched_getparam', 'sched_setscheduler', 'sched_getscheduler',
  'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'sched_setaffinity',
  'sched_getaffinity', 'sched_setattr', 'sched_getattr', 'ioprio_get', 'ioprio_set', 'getcpu',
  // time
  'nanosleep', 'clock_nanosleep', 'clock_gettime', 'clock_getres', 'gettimeofday', 'time', 'times', 'alarm',
  'getitimer', 'setitimer', 'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun', 'timer_delete',
  'timerfd_create', 'timerfd_settime', 'timerfd_gettime',
  // events and waiting
  'poll', 'ppoll', 'select', 'pselect6', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait',
  'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2', 'signalfd', 'signalfd4',
  // sockets (what they may reach is the network policy's business)
  'socket', 'socketpair', 'connect', 'accept', 'accept4', 'bind', 'listen', 'shutdown', 'getsockname',
  'getpeername', 'setsockopt', 'getsockopt', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg',
  // IPC and system information
  'semget', 'semop', 'semtimedop', 'semctl', 'msgget', 'msgsnd', 'msgrcv', 'msgctl', 'mq_open', 'mq_unlink',
  'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr', 'uname', 'sysinfo', 'getrandom',
] as const;

/** Namespace-creating flags of `clone` (CLONE_NEWNS … CLONE_NEWTIME): a `clone` carrying any of them is refused. */
const cloneNamespaceFlags =
  0x00020000 | // CLONE_NEWNS
  0x02000000 | // CLONE_NEWCGROUP
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000 | // CLONE_NEWNET
  0x00000080; // CLONE_NEWTIME

/** EPERM: what a refused syscall returns. */
const eperm = 1;
/** ENOSYS for `clone3`: callers fall back to `clone`. */
const enosys = 38;

/** The profile in the OCI runtime's seccomp JSON format, as the kubelet reads Localhost profiles. */
export function strictSeccompProfile(): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: eperm,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    syscalls: [
      { names: strictAllowed.filter((name) => name !== 'clone'), action: 'SCMP_ACT_ALLOW' },
      {
        // `clone` without namespace flags (x86: flags are the first argument).
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: cloneNamespaceFlags, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: enosys },
    ],
  };
}

/** The profile file's path under the kubelet's seccomp directory, as `clusters[].security.seccomp.strictProfile`. */
export { defaultStrictProfile as strictProfilePath } from '../spec/cluster-security-config.js';
