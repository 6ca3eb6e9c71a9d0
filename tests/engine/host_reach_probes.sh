#!/bin/sh
# Known ways from a container to its host's kernel, tried from wherever this runs: inside a sandbox
# (through the server's `exec`), or inside a container started by the sandbox's own engine (docker or
# podman; plain, with the sandbox's namespaces, or --privileged). Every probe prints one line:
#     <route> REACHED|BLOCKED|N/A <detail>
# REACHED: the route is open from here. N/A: it cannot be tried here, and the detail says why (the
# kernel lacks the file, this is the sandbox itself...). Each route names its public source.
#
# Harmless by construction: files are opened for writing and closed without a write (never with
# O_TRUNC or O_CREAT); a few values are written back exactly as read (release_agent, binfmt_misc's
# status); devices are read, never written; every mount is undone; the sandbox's own device cgroup
# is widened by one rule and put back; a bpf program is loaded and released, never attached.
# Nothing runs a core_pattern handler, triggers sysrq, loads a module or registers a binfmt handler.
#
# Usage:
#   host_reach_probes.sh build DIR      write and compile the helper (needs a C compiler) into DIR
#   host_reach_probes.sh KEY=VALUE...   run every probe. Keys: helper (path of the helper), place
#       (sandbox|nested), host_file (a file the test put on the host; its content is its name),
#       host_token (a host process runs with "<token>-process" in its arguments, the host root's
#       user keyring holds "<token>-key" = "<token>-secret", host_port on the host's loopback answers
#       "<token>-port"), host_port, host_engine (text the host engine's /info holds),
#       host_engine_tcp (IP:PORT,... where the host's engine listens on TCP, if it does),
#       sandbox_file, sandbox_token, sandbox_engine (the same for the sandbox, seen from a nested
#       container), wait (seconds a socket gets to answer, default 2: more for a slow machine),
#       routes (ROUTE,...: only these are reported, and the slow ones not listed are skipped).

if [ "${1:-}" = build ]; then
    dir=${2:?usage: host_reach_probes.sh build DIR}
    mkdir -p "$dir" || exit 1
    cat > "$dir/probe-helper.c" <<'HELPER'
/* System calls the host-reach probes need and busybox lacks. Each command prints one line,
 * "<REACHED|BLOCKED|N/A> <detail>", except open/read/sysfs, which the shell script interprets. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <ctype.h>
#include <dirent.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int say(const char *status, const char *fmt, ...) {
    va_list ap;
    printf("%s ", status);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return 0;
}

static const char *err(int e) { return strerror(e); }

/* How long a socket is given to connect and to answer: PROBE_WAIT_S seconds (default 2). An engine
 * in a machine under software emulation can take longer than that to answer /info. */
static int wait_ms(void) {
    const char *s = getenv("PROBE_WAIT_S");
    int n = s ? atoi(s) : 0;
    return (n > 0 ? n : 2) * 1000;
}

/* open PATH r|w: opened without O_CREAT or O_TRUNC, closed at once; nothing is read or written. */
static int cmd_open(const char *path, const char *mode) {
    int fd = open(path, (mode[0] == 'w' ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        printf("%s\n", err(errno));
        return 1;
    }
    close(fd);
    return 0;
}

/* open-each MODE SKIP_OWN: `open` for every path on stdin, one a line (one process for hundreds of
 * sysctls). SKIP_OWN=1 skips files owned by uid 0 as this namespace sees it (in a user namespace
 * of our own, those belong to namespaces we own). Prints "<opened> <tried> <first three opened>". */
static int cmd_open_each(const char *mode, const char *skip_own) {
    char path[4096], examples[3 * 4096 + 4] = "";
    int opened = 0, tried = 0;
    while (fgets(path, sizeof path, stdin)) {
        path[strcspn(path, "\n")] = 0;
        struct stat st;
        if (!path[0] || (skip_own[0] == '1' && stat(path, &st) == 0 && st.st_uid == 0)) continue;
        tried++;
        int fd = open(path, (mode[0] == 'w' ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) continue;
        close(fd);
        if (++opened <= 3) {
            strcat(examples, " ");
            strcat(examples, path);
        }
    }
    printf("%d %d%s\n", opened, tried, examples);
    return 0;
}

/* read PATH N: read at most N bytes; prints how many; succeeds if any came. */
static int cmd_read(const char *path, const char *count) {
    char buf[4096];
    size_t n = (size_t)atoi(count);
    if (n > sizeof buf) n = sizeof buf;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        printf("%s\n", err(errno));
        return 1;
    }
    ssize_t got = read(fd, buf, n);
    int e = errno;
    close(fd);
    if (got < 0) {
        printf("read: %s\n", err(e));
        return 1;
    }
    printf("%zd bytes\n", got);
    return got > 0 ? 0 : 1;
}

/* sysfs DIR REL...: a sysfs of our own at DIR (in a new network namespace if the one we share is
 * read-only), then each REL opened for writing and closed. Lines: "mount <how>", "<REL> <result>". */
static int writable(const char *dir) {
    struct statvfs st;
    return statvfs(dir, &st) == 0 && !(st.f_flag & ST_RDONLY);
}

static int cmd_sysfs(int argc, char **argv) {
    const char *dir = argv[0], *how = "in the sandbox's network namespace";
    mkdir(dir, 0700);
    if (mount("sysfs", dir, "sysfs", 0, NULL) != 0) {
        printf("mount failed: %s\n", err(errno));
        return 1;
    }
    if (!writable(dir)) {
        umount2(dir, MNT_DETACH);
        if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
            printf("mount read-only, and no new network namespace: %s\n", err(errno));
            return 1;
        }
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        if (mount("sysfs", dir, "sysfs", 0, NULL) != 0) {
            printf("mount failed in a new network namespace: %s\n", err(errno));
            return 1;
        }
        if (!writable(dir)) {
            umount2(dir, MNT_DETACH);
            printf("mount read-only, even in a new network namespace\n");
            return 1;
        }
        how = "in a new network namespace";
    }
    printf("mount writable %s\n", how);
    for (int i = 1; i < argc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, argv[i]);
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) close(fd);
        printf("%s %s\n", argv[i], fd >= 0 ? "ok" : err(errno));
    }
    umount2(dir, MNT_DETACH);
    return 0;
}

static int bpf_load(int type) {
    struct bpf_insn insns[2];
    memset(insns, 0, sizeof insns);
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
    insns[1].code = BPF_JMP | BPF_EXIT;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = type;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = 2;
    attr.license = (uint64_t)(uintptr_t) "GPL";
    int fd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    if (fd >= 0) close(fd); /* the program goes with its last reference */
    return fd >= 0 ? 0 : errno;
}

/* bpf: a kprobe-type program (tracing: reads kernel memory) needs CAP_BPF and CAP_PERFMON (or
 * CAP_SYS_ADMIN) in the initial user namespace; loaded and released at once, never attached. */
static int cmd_bpf(void) {
    int kprobe = bpf_load(BPF_PROG_TYPE_KPROBE);
    int filter = bpf_load(BPF_PROG_TYPE_SOCKET_FILTER);
    if (kprobe == 0) return say("REACHED", "bpf() loaded a kprobe (tracing) program (released, never attached)");
    if (kprobe == ENOSYS) return say("N/A", "the kernel has no bpf() (ENOSYS)");
    if (filter == 0) return say("BLOCKED", "kprobe programs refused (%s); only unprivileged socket filters load", err(kprobe));
    return say("BLOCKED", "bpf() refused: %s", err(kprobe));
}

/* perf: a system-wide software counter on CPU 0 sees every process of the host. */
static int cmd_perf(void) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.disabled = 1;
    int fd = (int)syscall(__NR_perf_event_open, &attr, -1, 0, -1, 0);
    if (fd >= 0) {
        close(fd);
        return say("REACHED", "perf_event_open: a system-wide event on CPU 0 (every process of the host)");
    }
    if (errno == ENOSYS || errno == ENOENT) return say("N/A", "the kernel has no perf events (%s)", err(errno));
    return say("BLOCKED", "perf_event_open system-wide: %s", err(errno));
}

#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_USER_KEYRING -4
#define KEYCTL_LINK 8
#define KEYCTL_UNLINK 9
#define KEYCTL_SEARCH 10
#define KEYCTL_READ 11

static long key_read(long id, char *buf, size_t size) {
    return syscall(__NR_keyctl, KEYCTL_READ, id, buf, size);
}

/* keyring DESC SECRET: the host root's user keyring (one per uid per user namespace, so shared
 * with uid 0 of every container without a user namespace of its own) holds a key the test put
 * there; reading it back is the proof. The link made on the way is removed. */
static int cmd_keyring(const char *desc, const char *secret) {
    long id = syscall(__NR_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", desc, 0);
    if (id < 0) {
        if (errno == ENOSYS) {  /* a seccomp filter answers ENOSYS as if there were no keyrings */
            if (access("/proc/keys", F_OK) == 0)
                return say("BLOCKED", "keyctl refused (ENOSYS) though the kernel has keyrings: a seccomp filter");
            return say("N/A", "the kernel has no keyrings");
        }
        return say("BLOCKED", "the host root's key is not found in the user keyring (%s)", err(errno));
    }
    char buf[256];
    memset(buf, 0, sizeof buf);
    long n = key_read(id, buf, sizeof buf - 1);
    const char *how = "read it directly";
    if (n < 0 && errno == EACCES) {
        if (syscall(__NR_keyctl, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING) == 0) {
            n = key_read(id, buf, sizeof buf - 1);
            syscall(__NR_keyctl, KEYCTL_UNLINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING);
            how = "linked the host root's user keyring into its session keyring";
        }
    }
    if (n >= 0 && strncmp(buf, secret, strlen(secret)) == 0)
        return say("REACHED", "read the host root's key from the user keyring (%s)", how);
    return say("BLOCKED", "found the host root's key (serial %ld) but could not read it (%s)", id,
               n < 0 ? err(errno) : "other content");
}

/* handle: shocker. open_by_handle_at on the filesystem that holds a bind-mounted file
 * (/etc/hostname...), asking for inode 2 (the root of an ext4 filesystem): opening it reaches
 * the whole host filesystem outside the container's mounts. */
static int cmd_handle(void) {
    const char *files[] = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"};
    int last = 0;
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) {
        int mfd = open(files[i], O_RDONLY | O_CLOEXEC);
        if (mfd < 0) continue;
        struct {
            unsigned int bytes;
            int type;
            uint32_t ino, gen;
        } h = {8, 1, 2, 0};
        int fd = (int)syscall(__NR_open_by_handle_at, mfd, &h, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        last = errno;
        close(mfd);
        if (fd >= 0) {
            close(fd);
            return say("REACHED", "open_by_handle_at opened the root of the filesystem holding %s", files[i]);
        }
        if (last == ENOSYS) return say("N/A", "the kernel has no open_by_handle_at");
    }
    if (!last) return say("N/A", "no bind-mounted file to start from");
    return say("BLOCKED", "open_by_handle_at of the filesystem root: %s", err(last));
}

/* init-module: finit_module checks the capability (and modules_disabled) before the file. */
static int cmd_init_module(void) {
    long r = syscall(__NR_finit_module, -1, "", 0);
    int e = errno;
    if (r == 0) return say("REACHED", "finit_module succeeded");
    if (e == ENOSYS) return say("N/A", "the kernel has no module support (ENOSYS)");
    if (e == EPERM) return say("BLOCKED", "finit_module: EPERM (no CAP_SYS_MODULE, or modules disabled)");
    return say("REACHED", "finit_module passed the capability check (then failed on the empty file: %s)", err(e));
}

/* tcp IP PORT EXPECT: the host's loopback answers with EXPECT only in the host's network namespace. */
static int cmd_tcp(const char *ip, const char *port, const char *expect) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(port));
    inet_pton(AF_INET, ip, &a.sin_addr);
    connect(s, (struct sockaddr *)&a, sizeof a);
    struct pollfd p = {s, POLLIN, 0};
    char buf[512];
    memset(buf, 0, sizeof buf);
    ssize_t n = -1;
    if (poll(&p, 1, wait_ms()) == 1) n = read(s, buf, sizeof buf - 1);
    int e = errno;
    close(s);
    if (n > 0 && strstr(buf, expect)) return say("REACHED", "the host's loopback answered on %s:%s", ip, port);
    return say("BLOCKED", "%s:%s: %s", ip, port, n > 0 ? "someone else answered" : n == 0 ? "closed" : err(e));
}

/* userns-release-agent: CVE-2022-0492. In a new user, mount and cgroup namespace, mount a cgroup
 * v1 hierarchy and write its release_agent back with the value it holds. */
static int cmd_userns_release_agent(const char *dir) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return say("BLOCKED", "pipe: %s", err(errno));
    uid_t uid = getuid();
    gid_t gid = getgid();
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 1);
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) != 0) {
            say("BLOCKED", "unshare(user, mount, cgroup namespaces): %s", err(errno));
            _exit(0);
        }
        char map[64];
        int fd = open("/proc/self/setgroups", O_WRONLY);
        if (fd >= 0) { write(fd, "deny", 4); close(fd); }
        snprintf(map, sizeof map, "0 %u 1", uid);
        fd = open("/proc/self/uid_map", O_WRONLY);
        if (fd >= 0) { write(fd, map, strlen(map)); close(fd); }
        snprintf(map, sizeof map, "0 %u 1", gid);
        fd = open("/proc/self/gid_map", O_WRONLY);
        if (fd >= 0) { write(fd, map, strlen(map)); close(fd); }
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        mkdir(dir, 0700);
        const char *opts[] = {"rdma", "memory", "pids", "cpu", "none,name=manyoyo-probe"};
        int mounted = 0, last = 0;
        for (unsigned i = 0; i < sizeof opts / sizeof *opts; i++) {
            if (mount("cgroup", dir, "cgroup", 0, opts[i]) != 0) {
                last = errno;
                continue;
            }
            mounted = 1;
            char path[4096], value[4096];
            snprintf(path, sizeof path, "%s/release_agent", dir);
            int rfd = open(path, O_RDONLY);
            if (rfd >= 0) {
                ssize_t n = read(rfd, value, sizeof value);
                close(rfd);
                int wfd = open(path, O_WRONLY);
                if (n >= 0 && wfd >= 0) {
                    ssize_t w = write(wfd, n ? value : "\n", n ? (size_t)n : 1);
                    last = errno;
                    close(wfd);
                    umount2(dir, MNT_DETACH);
                    if (w >= 0) {
                        say("REACHED", "release_agent of a %s hierarchy written in a new user namespace", opts[i]);
                        _exit(0);
                    }
                    continue;
                }
                last = errno;
            }
            umount2(dir, MNT_DETACH);
        }
        if (!mounted) say("BLOCKED", "no cgroup v1 hierarchy mounts in a new user namespace (%s)", err(last));
        else say("BLOCKED", "cgroup v1 mounts in a new user namespace, but no release_agent is writable (%s)",
                 last ? err(last) : "no release_agent file");
        _exit(0);
    }
    close(pipefd[1]);
    char buf[1024];
    ssize_t n, total = 0;
    while ((n = read(pipefd[0], buf + total, sizeof buf - 1 - (size_t)total)) > 0) total += n;
    buf[total] = 0;
    waitpid(pid, NULL, 0);
    fputs(buf, stdout);
    return 0;
}

/* proc-find TEXT: a process other than this one whose command line holds TEXT. */
static int cmd_proc_find(const char *text) {
    DIR *d = opendir("/proc");
    if (!d) return 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]) || atoi(e->d_name) == getpid()) continue;
        char path[300], buf[8192];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        for (ssize_t i = 0; i < n; i++)
            if (!buf[i]) buf[i] = ' ';
        buf[n] = 0;
        if (strstr(buf, text)) {
            printf("/proc/%s\n", e->d_name);
            closedir(d);
            return 0;
        }
    }
    closedir(d);
    return 1;
}

/* http unix:PATH|tcp:IP:PORT URLPATH: an HTTP/1.0 GET; the answer's first 64 KiB on stdout.
 * Every step gives up after PROBE_WAIT_S (a socket that does not speak HTTP answers nothing). */
static int cmd_http(const char *target, const char *urlpath) {
    int s;
    struct timeval tv = {wait_ms() / 1000, 0};
    if (!strncmp(target, "unix:", 5)) {
        struct sockaddr_un a;
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        strncpy(a.sun_path, target + 5, sizeof a.sun_path - 1);
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
    } else if (!strncmp(target, "tcp:", 4)) {
        char ip[64];
        const char *colon = strrchr(target + 4, ':');
        if (!colon || (size_t)(colon - target - 4) >= sizeof ip) return 2;
        memcpy(ip, target + 4, (size_t)(colon - target - 4));
        ip[colon - target - 4] = 0;
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)atoi(colon + 1));
        inet_pton(AF_INET, ip, &a.sin_addr);
        s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(s, (struct sockaddr *)&a, sizeof a);
        struct pollfd p = {s, POLLOUT, 0};
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (poll(&p, 1, wait_ms()) != 1 || getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr) return 1;
        fcntl(s, F_SETFL, 0);
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    } else {
        return 2;
    }
    char req[512];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: engine\r\n\r\n", urlpath);
    if (write(s, req, (size_t)len) != len) return 1;
    char buf[65536];
    size_t total = 0;
    ssize_t n;
    while (total < sizeof buf && (n = read(s, buf + total, sizeof buf - total)) > 0) total += (size_t)n;
    close(s);
    fwrite(buf, 1, total, stdout);
    return total ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *c = argv[1];
    if (!strcmp(c, "open") && argc == 4) return cmd_open(argv[2], argv[3]);
    if (!strcmp(c, "open-each") && argc == 4) return cmd_open_each(argv[2], argv[3]);
    if (!strcmp(c, "read") && argc == 4) return cmd_read(argv[2], argv[3]);
    if (!strcmp(c, "sysfs") && argc >= 3) return cmd_sysfs(argc - 2, argv + 2);
    if (!strcmp(c, "bpf")) return cmd_bpf();
    if (!strcmp(c, "perf")) return cmd_perf();
    if (!strcmp(c, "keyring") && argc == 4) return cmd_keyring(argv[2], argv[3]);
    if (!strcmp(c, "handle")) return cmd_handle();
    if (!strcmp(c, "init-module")) return cmd_init_module();
    if (!strcmp(c, "tcp") && argc == 5) return cmd_tcp(argv[2], argv[3], argv[4]);
    if (!strcmp(c, "proc-find") && argc == 3) return cmd_proc_find(argv[2]);
    if (!strcmp(c, "http") && argc == 4) return cmd_http(argv[2], argv[3]);
    if (!strcmp(c, "userns-release-agent") && argc == 3) return cmd_userns_release_agent(argv[2]);
    fprintf(stderr, "probe-helper: unknown command %s\n", c);
    return 2;
}
HELPER
    exec cc -static -Os -o "$dir/probe-helper" "$dir/probe-helper.c"
fi

# ---------------------------------------------------------------------------------------------
# Running the probes.
for arg in "$@"; do
    case $arg in
        helper=*) helper=${arg#*=} ;;
        place=*) place=${arg#*=} ;;
        host_file=*) host_file=${arg#*=} ;;
        host_token=*) host_token=${arg#*=} ;;
        host_port=*) host_port=${arg#*=} ;;
        host_engine=*) host_engine=${arg#*=} ;;
        host_engine_tcp=*) host_engine_tcp=${arg#*=} ;;
        wait=*) PROBE_WAIT_S=${arg#*=}; export PROBE_WAIT_S ;;
        sandbox_file=*) sandbox_file=${arg#*=} ;;
        sandbox_token=*) sandbox_token=${arg#*=} ;;
        sandbox_engine=*) sandbox_engine=${arg#*=} ;;
        routes=*) routes=${arg#*=} ;;
        *) echo "host_reach_probes: unknown argument $arg" >&2; exit 2 ;;
    esac
done
H=${helper:-/probes/probe-helper}
if [ ! -x "$H" ]; then echo "host_reach_probes: no helper at $H (run: host_reach_probes.sh build DIR)" >&2; exit 3; fi

mkdir -p /tmp 2>/dev/null  # a scratch image has no /tmp
work=$(mktemp -d /tmp/.manyoyo-probe.XXXXXX) || exit 3
cleanup() {
    for m in $(awk -v w="$work" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r); do umount -l "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# wanted ROUTE...: one of them is asked for (routes= unset: every route is).
wanted() { for r in "$@"; do case ",${routes:-$r}," in *",$r,"*) return 0 ;; esac; done; return 1; }
report() { route=$1; shift; if wanted "$route"; then echo "$route $*"; fi; }
# opens PATH for writing (w) or reading (r) and closes it: no O_CREAT, no O_TRUNC, nothing written.
opens() { why=$("$H" open "$1" "$2"); }
in_initial_userns() { [ "$(awk '{print $1 $2 $3}' /proc/self/uid_map 2>/dev/null)" = "004294967295" ]; }
kernel_has_sysrq() { [ -e /proc/sys/kernel/sysrq ]; }

# A proc of our own (the route of issue 21): mounted at $work/proc if the kernel lets us.
mkdir -p "$work/proc"
if proc_error=$(mount -t proc proc "$work/proc" 2>&1); then fresh_proc="$work/proc"; else fresh_proc=""; fi

# --- /proc/sys/kernel/core_pattern: a "|program" there runs as root on the host at the next crash.
# https://man7.org/linux/man-pages/man5/core.5.html
# https://github.com/HackTricks-wiki/hacktricks/blob/master/src/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/sensitive-mounts.md
# https://github.com/containers/podman/issues/6528 (a privileged container's write changes the host's)
if opens /proc/sys/kernel/core_pattern w; then report core-pattern REACHED "/proc/sys/kernel/core_pattern opens for writing"
else report core-pattern BLOCKED "/proc/sys/kernel/core_pattern: $why"; fi

if [ -z "$fresh_proc" ]; then report fresh-proc-core-pattern BLOCKED "no new proc mount: ${proc_error:-refused}"
elif opens "$fresh_proc/sys/kernel/core_pattern" w; then report fresh-proc-core-pattern REACHED "core_pattern opens for writing in a proc mounted anew"
else report fresh-proc-core-pattern BLOCKED "a new proc mounts, but core_pattern: $why"; fi

# --- /proc/sysrq-trigger: crash, reboot or freeze the host (opened, nothing written).
# https://www.kernel.org/doc/html/latest/admin-guide/sysrq.html
# https://github.com/opencontainers/runc/blob/main/tests/integration/no_pivot.bats (a fresh proc reaches it)
if ! kernel_has_sysrq; then report sysrq-trigger N/A "the kernel has no magic SysRq (no /proc/sys/kernel/sysrq)"
elif opens /proc/sysrq-trigger w; then report sysrq-trigger REACHED "/proc/sysrq-trigger opens for writing"
else report sysrq-trigger BLOCKED "/proc/sysrq-trigger: $why"; fi

if ! kernel_has_sysrq; then report fresh-proc-sysrq-trigger N/A "the kernel has no magic SysRq"
elif [ -z "$fresh_proc" ]; then report fresh-proc-sysrq-trigger BLOCKED "no new proc mount: ${proc_error:-refused}"
elif opens "$fresh_proc/sysrq-trigger" w; then report fresh-proc-sysrq-trigger REACHED "sysrq-trigger opens for writing in a proc mounted anew"
else report fresh-proc-sysrq-trigger BLOCKED "a new proc mounts, but sysrq-trigger: $why"; fi

# --- /proc/sys/kernel/modprobe: the program the kernel runs as root to load a module on demand.
# https://man7.org/linux/man-pages/man5/proc_sys_kernel.5.html
if [ ! -e /proc/sys/kernel/modprobe ]; then report modprobe N/A "the kernel has no module loading (no /proc/sys/kernel/modprobe)"
elif opens /proc/sys/kernel/modprobe w; then report modprobe REACHED "/proc/sys/kernel/modprobe opens for writing"
elif [ -n "$fresh_proc" ] && opens "$fresh_proc/sys/kernel/modprobe" w; then report modprobe REACHED "modprobe opens for writing in a proc mounted anew"
else report modprobe BLOCKED "/proc/sys/kernel/modprobe: $why"; fi

# --- Every other host-wide sysctl (sysbox's test: nothing under /proc/sys that is not namespaced
# may be writable): kernel, vm, fs, debug and dev, minus the UTS, IPC and PID namespaced ones
# (kernel.pid_max is per PID namespace since Linux 6.14). In a user namespace of our own, a sysctl
# whose file belongs to our root belongs to a namespace we own; the host's show as nobody.
# https://github.com/nestybox/sysbox/blob/master/docs/user-guide/security.md
pid_max_namespaced() {
    release=$(uname -r); major=${release%%.*}; minor=${release#*.}; minor=${minor%%[!0-9]*}
    [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 14 ]; }
}
sysctls() {
    skip='/sys/kernel/(hostname|domainname|shm[a-z_]*|msg[a-z_]*|auto_msgmni|sem|sem_next_id|ns_last_pid|core_pattern|modprobe)$|/sys/fs/mqueue/'
    pid_max_namespaced && skip="$skip|/sys/kernel/pid_max\$"
    find "$1/sys/kernel" "$1/sys/vm" "$1/sys/fs" "$1/sys/debug" "$1/sys/dev" -type f 2>/dev/null | grep -Ev "$skip"
}
writable_sysctls() {
    skip_own=1; in_initial_userns && skip_own=0
    read -r count total opened <<EOF
$(sysctls "$1" | "$H" open-each w "$skip_own")
EOF
    examples=""
    for f in $opened; do examples="$examples ${f#"$1"/sys/}"; done
}
if ! wanted proc-sysctls; then :
elif writable_sysctls /proc && [ $count -gt 0 ]; then report proc-sysctls REACHED "$count of $total host-wide sysctls open for writing in /proc:$examples"
elif [ -z "$fresh_proc" ]; then report proc-sysctls BLOCKED "none of $total writable in /proc, and no new proc mount"
else
    writable_sysctls "$fresh_proc"
    if [ $count -gt 0 ]; then report proc-sysctls REACHED "$count of $total host-wide sysctls open for writing in a proc mounted anew:$examples"
    else report proc-sysctls BLOCKED "none of $total host-wide sysctls open for writing, in /proc or a proc mounted anew"; fi
fi

# --- /proc/kcore (the kernel's memory) and /proc/kmsg (the host's kernel log), opened for reading.
# https://github.com/HackTricks-wiki/hacktricks/blob/master/src/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/sensitive-mounts.md
# Engines mask them in their containers with a device node (/dev/null) bound over the file: that
# opens, and is not the kernel's.
for entry in kcore kmsg; do
    where=/proc; [ -n "$fresh_proc" ] && where="$fresh_proc"
    why="masked (a device node is bound over it)"
    if [ ! -e "$where/$entry" ]; then report "proc-$entry" N/A "the kernel has no /proc/$entry"
    elif [ ! -c "/proc/$entry" ] && opens "/proc/$entry" r; then report "proc-$entry" REACHED "/proc/$entry opens for reading"
    elif [ -n "$fresh_proc" ] && [ ! -c "$fresh_proc/$entry" ] && opens "$fresh_proc/$entry" r; then
        report "proc-$entry" REACHED "$entry opens for reading in a proc mounted anew"
    else report "proc-$entry" BLOCKED "/proc/$entry: $why"; fi
done

# --- binfmt_misc: registers an interpreter the kernel runs for matching executables (with the
# C flag, with the file's credentials). Since Linux 6.7 a mount in a user namespace of its own is a
# private instance; the host's instance is the one mounted from the initial user namespace. Proof:
# the mount, and "status" written back with the value it holds (enabled -> 1). Nothing registered.
# https://docs.kernel.org/admin-guide/binfmt-misc.html  https://github.com/toffan/binfmt_misc
mkdir -p "$work/binfmt"
if [ -e /proc/sys/fs/binfmt_misc/status ]; then binfmt=/proc/sys/fs/binfmt_misc; binfmt_how="/proc/sys/fs/binfmt_misc"
elif binfmt_error=$(mount -t binfmt_misc binfmt_misc "$work/binfmt" 2>&1); then binfmt="$work/binfmt"; binfmt_how="binfmt_misc mounted anew"
else binfmt=""; fi
if [ -z "$binfmt" ]; then
    if grep -qw binfmt_misc /proc/filesystems; then report binfmt-misc BLOCKED "cannot mount binfmt_misc: $binfmt_error"
    else report binfmt-misc N/A "the kernel has no binfmt_misc"; fi
elif ! in_initial_userns; then report binfmt-misc BLOCKED "$binfmt_how is this user namespace's own instance, not the host's"
else
    status=$(cat "$binfmt/status" 2>/dev/null)
    case $status in enabled) value=1 ;; disabled) value=0 ;; *) value="" ;; esac
    if [ -n "$value" ] && (printf '%s' "$value" > "$binfmt/status") 2>/dev/null; then report binfmt-misc REACHED "$binfmt_how: the host's instance, status written back ($status)"
    else report binfmt-misc BLOCKED "$binfmt_how: status not writable"; fi
fi
umount "$work/binfmt" 2>/dev/null

# --- A sysfs of our own (the sandbox's is read-only): uevent_helper runs a program as root on the
# host at the next device event; other host-wide attributes (power/state suspends the host...).
# https://www.kernel.org/doc/html/latest/admin-guide/sysfs-rules.html
# https://github.com/HackTricks-wiki/hacktricks/blob/master/src/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/sensitive-mounts.md
sysfs_out=$("$H" sysfs "$work/sys" kernel/uevent_helper power/state kernel/mm/transparent_hugepage/enabled kernel/rcu_expedited 2>&1)
sysfs_mount=$(echo "$sysfs_out" | sed -n 's/^mount //p' | head -n 1)
attr() { echo "$sysfs_out" | awk -v a="$1" '$1 == a {sub(/^[^ ]* /, ""); print; exit}'; }
case $sysfs_mount in
    writable*)
        helper_result=$(attr kernel/uevent_helper)
        case $helper_result in
            ok) report uevent-helper REACHED "/sys/kernel/uevent_helper opens for writing in a sysfs mounted anew, $sysfs_mount" ;;
            "No such file or directory") report uevent-helper N/A "the kernel has no uevent_helper (CONFIG_UEVENT_HELPER off)" ;;
            *) report uevent-helper BLOCKED "a sysfs mounts anew, but uevent_helper: $helper_result" ;;
        esac
        open_attrs=""
        for a in power/state kernel/mm/transparent_hugepage/enabled kernel/rcu_expedited; do
            [ "$(attr $a)" = ok ] && open_attrs="$open_attrs $a"
        done
        if [ -n "$open_attrs" ]; then report sysfs-write REACHED "host-wide attributes open for writing in a sysfs mounted anew ($sysfs_mount):$open_attrs"
        else report sysfs-write BLOCKED "a sysfs mounts anew, but no host-wide attribute opens for writing"; fi ;;
    *)
        if [ -e /sys/kernel/uevent_helper ]; then
            if opens /sys/kernel/uevent_helper w; then report uevent-helper REACHED "/sys/kernel/uevent_helper opens for writing"
            else report uevent-helper BLOCKED "no writable sysfs ($sysfs_mount), /sys/kernel/uevent_helper: $why"; fi
        else report uevent-helper N/A "the kernel has no uevent_helper (CONFIG_UEVENT_HELPER off)"; fi
        if opens /sys/power/state w; then report sysfs-write REACHED "/sys/power/state opens for writing"
        else report sysfs-write BLOCKED "no writable sysfs: $sysfs_mount"; fi ;;
esac

# --- securityfs, debugfs, tracefs: the kernel's security-module, debugging and tracing controls
# (files opened for writing without writing; O_TRUNC would clear trace settings, so never that).
# https://docs.kernel.org/filesystems/debugfs.html  https://docs.kernel.org/trace/ftrace.html
# https://github.com/HackTricks-wiki/hacktricks/blob/master/src/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/sensitive-mounts.md
lockdown=unknown
for fs in securityfs debugfs tracefs; do
    mkdir -p "$work/$fs"
    if ! grep -qw "$fs" /proc/filesystems; then report "$fs" N/A "the kernel has no $fs"; continue; fi
    if ! fs_error=$(mount -t "$fs" "$fs" "$work/$fs" 2>&1); then report "$fs" BLOCKED "cannot mount $fs: $fs_error"; continue; fi
    open_ctl=""
    case $fs in
        securityfs) controls="apparmor/.remove apparmor/.replace ima/policy lockdown"; lockdown=$(sed 's/.*\[\(.*\)\].*/\1/' "$work/securityfs/lockdown" 2>/dev/null) ;;
        debugfs) controls="clear_warn_once sched/verbose" ;;
        tracefs) controls="tracing_on current_tracer set_event kprobe_events" ;;
    esac
    for f in $controls; do
        [ -e "$work/$fs/$f" ] && "$H" open "$work/$fs/$f" w >/dev/null && open_ctl="$open_ctl $f"
    done
    value=$(cat "$work/tracefs/tracing_on" 2>/dev/null)
    if [ "$fs" = tracefs ] && [ -n "$value" ] && (printf '%s\n' "$value" > "$work/tracefs/tracing_on") 2>/dev/null; then
        report tracefs REACHED "tracefs mounted, tracing_on written back ($value); open for writing:$open_ctl"
    elif [ -n "$open_ctl" ]; then report "$fs" REACHED "$fs mounted, host-wide controls open for writing:$open_ctl"
    else report "$fs" BLOCKED "$fs mounts, but none of its controls ($controls) opens for writing (lockdown: $lockdown)"; fi
done
for fs in tracefs debugfs securityfs; do umount "$work/$fs" 2>/dev/null; done

# --- cgroup v1 release_agent: runs a program as root on the host when a cgroup empties. On the
# hierarchies mounted here, on each hierarchy mounted anew, and on a new named hierarchy; the value
# held is written back.
# https://blog.trailofbits.com/2019/07/19/understanding-docker-container-escapes/
reached=""
for agent in /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent; do
    [ -f "$agent" ] || continue
    value=$(cat "$agent" 2>/dev/null)
    if (printf '%s\n' "$value" > "$agent") 2>/dev/null; then reached="$agent"; break; fi
done
mkdir -p "$work/cg"
mounted_any=""
if [ -z "$reached" ]; then
    for opts in rdma memory pids cpu devices "none,name=manyoyo-probe"; do
        mount -t cgroup -o "$opts" cgroup "$work/cg" 2>/dev/null || continue
        mounted_any="${mounted_any:+$mounted_any }$opts"
        if [ -f "$work/cg/release_agent" ]; then
            value=$(cat "$work/cg/release_agent" 2>/dev/null)
            (printf '%s\n' "$value" > "$work/cg/release_agent") 2>/dev/null && reached="the release_agent of a $opts hierarchy mounted anew"
        fi
        umount "$work/cg" 2>/dev/null
        [ -n "$reached" ] && break
    done
fi
if [ -n "$reached" ]; then report release-agent REACHED "release_agent writable: $reached"
elif ! grep -qw cgroup /proc/filesystems; then report release-agent N/A "the kernel has no cgroup v1"
elif [ -n "$mounted_any" ]; then report release-agent BLOCKED "cgroup v1 mounts anew ($mounted_any), but shows no writable release_agent (a cgroup namespace's root)"
else report release-agent BLOCKED "no writable release_agent, no cgroup v1 mount"; fi

# --- CVE-2022-0492: the same from a new user and cgroup namespace (fixed in Linux 5.17).
# https://unit42.paloaltonetworks.com/cve-2022-0492-cgroups/
report release-agent-userns $("$H" userns-release-agent "$work/ucg")

# --- A cgroup outside the sandbox's own: its root (v1: the hierarchy with release_agent; v2: the
# root has no cgroup.type) or a sibling container's. Moving a process there escapes the sandbox's
# limits (cgroup.procs opened for writing, nothing written).
# https://man7.org/linux/man-pages/man7/cgroup_namespaces.7.html
outside=""
check_cgroup_root() {
    if [ -f "$1/release_agent" ] || { [ -f "$1/cgroup.controllers" ] && [ ! -f "$1/cgroup.type" ]; }; then
        opens "$1/cgroup.procs" w && outside="$2 (its root cgroup.procs opens for writing)"
    fi
}
for dir in /sys/fs/cgroup /sys/fs/cgroup/*; do [ -d "$dir" ] && [ -z "$outside" ] && check_cgroup_root "$dir" "$dir"; done
if [ -z "$outside" ] && mount -t cgroup2 cgroup2 "$work/cg" 2>/dev/null; then
    check_cgroup_root "$work/cg" "a cgroup2 mounted anew"; umount "$work/cg" 2>/dev/null
fi
if [ -z "$outside" ]; then
    for opts in memory pids cpu devices; do
        mount -t cgroup -o "$opts" cgroup "$work/cg" 2>/dev/null || continue
        check_cgroup_root "$work/cg" "a $opts hierarchy mounted anew"; umount "$work/cg" 2>/dev/null
        [ -n "$outside" ] && break
    done
fi
if [ -n "$outside" ]; then report cgroup-escape REACHED "the host's cgroup root: $outside"
else report cgroup-escape BLOCKED "only this container's own cgroup tree is visible"; fi

# --- The device cgroup (v1): the sandbox widening its own device rules, then device nodes made
# with mknod. Widening is tried with a rule not granted yet and taken back at once.
# https://docs.kernel.org/admin-guide/cgroup-v1/devices.html
devices_dir=""
devices_mount=$(awk '{ for (i = 7; i < NF && $i != "-"; i++) ; }
    $(i + 1) == "cgroup" && $(i + 3) ~ /(^|,)devices(,|$)/ {print $4, $5; exit}' /proc/self/mountinfo)
if [ -n "$devices_mount" ]; then
    root=${devices_mount% *}; mountpoint=${devices_mount#* }
    own=$(awk -F: '$2 ~ /(^|,)devices(,|$)/ {print $3}' /proc/self/cgroup)
    rel=${own#"$root"}; [ "$root" = / ] && rel=$own
    devices_dir="$mountpoint$rel"; [ -f "$devices_dir/devices.allow" ] || devices_dir=""
fi
grant() {  # grant TYPE MAJ:MIN ACCESS: 0 if newly granted (undo with ungrant)
    [ -n "$devices_dir" ] || return 1
    grep -q '^a ' "$devices_dir/devices.list" 2>/dev/null && return 1
    grep -q "^$1 $2 " "$devices_dir/devices.list" 2>/dev/null && return 1
    (echo "$1 $2 $3" > "$devices_dir/devices.allow") 2>/dev/null && grep -q "^$1 $2 " "$devices_dir/devices.list"
}
ungrant() { echo "$1 $2 $3" > "$devices_dir/devices.deny"; }
if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -z "$devices_mount" ]; then
    report device-cgroup N/A "cgroup v2: device rules are a BPF program (see the bpf route)"
elif [ -z "$devices_dir" ]; then report device-cgroup BLOCKED "no device cgroup of its own is visible"
elif grep -q '^a ' "$devices_dir/devices.list"; then report device-cgroup REACHED "the device cgroup allows every device"
elif grant c 1:11 w; then ungrant c 1:11 w; report device-cgroup REACHED "widened its own device rules (granted c 1:11 w, then took it back)"
else report device-cgroup BLOCKED "its device rules cannot be widened ($devices_dir)"; fi

# try_device NAME TYPE MAJ:MIN r|w [bytes]: mknod, then open (or read) the node; with a widened
# device cgroup if the first try is refused. Sets $device_result.
try_device() {
    node="$work/dev-$1"; device_result=""
    rm -f "$node"
    if ! mknod "$node" "$2" "${3%%:*}" "${3#*:}" 2>/dev/null; then device_result="mknod refused"; return 1; fi
    attempt() { if [ -n "${5:-}" ]; then why=$("$H" read "$node" "$5"); else opens "$node" "$4"; fi; }
    if attempt "$@"; then device_result="opened"; rm -f "$node"; return 0; fi
    first=$why
    case $4 in r) access=r ;; *) access=w ;; esac
    if grant "$2" "$3" "$access"; then
        if attempt "$@"; then device_result="opened after widening the device cgroup"; ungrant "$2" "$3" "$access"; rm -f "$node"; return 0; fi
        ungrant "$2" "$3" "$access"; device_result="$first; after widening the device cgroup: $why"
    else device_result=$first; fi
    rm -f "$node"; return 1
}

# Host block devices (listed in /sys/dev/block and /proc/partitions), 512 bytes read from each. The
# host's disks hold every file of the host, whatever the mounts.
# https://github.com/HackTricks-wiki/hacktricks/blob/master/src/linux-hardening/privilege-escalation/docker-security/docker-breakout-privilege-escalation/README.md
block_devices() {  # lines "MAJ:MIN NAME" of the devices that hold data (not an unused loop or zram)
    {
        for dev in /sys/dev/block/*; do
            [ -e "$dev/size" ] || continue
            [ "$(cat "$dev/size" 2>/dev/null)" = 0 ] && continue
            echo "${dev##*/} $(sed -n 's/^DEVNAME=//p' "$dev/uevent" 2>/dev/null)"
        done
        awk 'NR > 2 && $3 > 0 {print $1 ":" $2, $4}' /proc/partitions 2>/dev/null
    } | sort -u -k1,1
}
devices=""; wanted block-device host-disk-mount && devices=$(block_devices)
reached=""; readable=""; first_error=""
for numbers in $(echo "$devices" | awk '{print $1}'); do
    name=$(echo "$devices" | awk -v n="$numbers" '$1 == n {print $2}')
    if try_device "blk-$numbers" b "$numbers" r 512; then reached="$reached $name($device_result)"; readable="$readable $numbers"
    elif [ -z "$first_error" ]; then first_error="$name: $device_result"; fi
done
if [ -n "$reached" ]; then report block-device REACHED "read host block devices:$reached"
elif [ -z "$devices" ]; then report block-device BLOCKED "no host block device is listed here (/sys/dev/block, /proc/partitions)"
else report block-device BLOCKED "none of $(echo "$devices" | awk '{print $2}' | tr '\n' ' ')could be read ($first_error)"; fi

# ... and mounted read-only, as the write-ups do with the host's disk: only the devices that could be
# read (no other can mount), and never replaying a journal (noload, norecovery, nologreplay), which
# would write to the disk even on a read-only mount.
reached=""
mkdir -p "$work/disk"
for numbers in $readable; do
    name=$(echo "$devices" | awk -v n="$numbers" '$1 == n {print $2}')
    node="$work/dev-mnt-$numbers"; rm -f "$node"
    mknod "$node" b "${numbers%%:*}" "${numbers#*:}" 2>/dev/null || continue
    granted=""; grant b "$numbers" r && granted=yes
    for opts in ro,noload ro,norecovery ro,rescue=nologreplay; do
        if mount -o "$opts" "$node" "$work/disk" 2>/dev/null; then
            reached="$name ($(ls "$work/disk" | head -n 5 | tr '\n' ' '))"; umount "$work/disk"; break
        fi
    done
    [ -n "$granted" ] && ungrant b "$numbers" r
    rm -f "$node"
    [ -n "$reached" ] && break
done
if [ -n "$reached" ]; then report host-disk-mount REACHED "mounted a host disk read-only: $reached"
elif [ -z "$readable" ]; then report host-disk-mount BLOCKED "no host block device can be read, so none mounts"
else report host-disk-mount BLOCKED "host block devices can be read, but none mounts read-only"; fi

# /dev/kmsg made with mknod: writing injects lines into the host's kernel log (opened, not written).
if try_device kmsg c 1:11 w; then report kmsg-device REACHED "/dev/kmsg (c 1:11) opens for writing: $device_result"
else report kmsg-device BLOCKED "/dev/kmsg (c 1:11): $device_result"; fi

# /dev/mem made with mknod: the host's physical memory (opened for reading, nothing read).
if try_device mem c 1:1 r; then report mem-device REACHED "/dev/mem (c 1:1) opens for reading: $device_result"
else
    case $device_result in
        *"No such device"*) report mem-device N/A "the kernel has no /dev/mem ($device_result)" ;;
        *) report mem-device BLOCKED "/dev/mem (c 1:1): $device_result" ;;
    esac
fi

# --- System calls Docker's seccomp profile refuses for these reasons.
# https://docs.docker.com/engine/security/seccomp/
report bpf $("$H" bpf)
report perf-event $("$H" perf)
# Keyrings are not namespaced without a user namespace: https://github.com/antitree/keyctl-unmask
if [ -n "${host_token:-}" ]; then report host-keyring $("$H" keyring "$host_token-key" "$host_token-secret")
else report host-keyring N/A "no host token given"; fi
# shocker: https://github.com/gabrtv/shocker
report open-by-handle $("$H" handle)
report kernel-module $("$H" init-module)

# --- Files, processes, network and engines of the host (and of the sandbox, from a nested
# container: what --pid host, --net host and -v /:/host give it). By path, through every
# process's root (/proc/*/root), and by name on every disk-backed mount.
# https://labs.withsecure.com/publications/abusing-the-access-to-mount-namespaces-through-procpidroot
disk_mounts() { awk '$3 ~ /^(ext[234]|xfs|btrfs|overlay|tmpfs|zfs|fuse.*)$/ && $2 !~ /^\/(proc|sys|dev)(\/|$)/ {print $2}' /proc/self/mounts | sort -u; }
# Every disk-backed mount is walked once (the slowest step, by far, in a machine under software
# emulation), listing the sockets and the files named like the ones searched for.
walk_disks() {
    [ -f "$work/walked" ] && return
    for m in $(disk_mounts); do
        find "$m" -xdev \( -type s -o -name "${host_file##*/}" -o -name "${sandbox_file##*/}" \) 2>/dev/null
    done > "$work/walked.tmp"
    mv "$work/walked.tmp" "$work/walked"
}
find_file() {  # find_file PATH CONTENT: where a file with that name and content is seen
    for path in "$1" /proc/*/root"$1"; do
        if grep -qs "$2" "$path" 2>/dev/null; then echo "$path"; return; fi
    done
    walk_disks
    while IFS= read -r found; do
        if [ "${found##*/}" = "${1##*/}" ] && [ -f "$found" ] && grep -qs "$2" "$found"; then echo "$found"; return; fi
    done < "$work/walked"
}
find_process() { "$H" proc-find "$1"; }
find_engine() {  # find_engine MARKER [TCP_TARGET...]: a unix socket or TCP port whose /info holds MARKER
    marker=$1; shift
    walk_disks
    for sock in $(cat "$work/walked") /var/run/docker.sock /run/docker.sock /run/podman/podman.sock; do
        [ -S "$sock" ] || continue
        case $("$H" http "unix:$sock" /info 2>/dev/null) in *"$marker"*) echo "$sock"; return ;; esac
    done
    gateway=$(awk '$2 == "00000000" {print $3; exit}' /proc/net/route 2>/dev/null)
    if [ -n "$gateway" ]; then
        ip=$(printf '%d.%d.%d.%d' 0x$(echo "$gateway" | cut -c7-8) 0x$(echo "$gateway" | cut -c5-6) 0x$(echo "$gateway" | cut -c3-4) 0x$(echo "$gateway" | cut -c1-2))
        set -- "tcp:$ip:2375" "tcp:$ip:2376" "$@"
    fi
    for target in "$@" tcp:127.0.0.1:2375 tcp:127.0.0.1:2376; do
        case $("$H" http "$target" /info 2>/dev/null) in *"$marker"*) echo "$target"; return ;; esac
    done
}

if ! wanted host-file; then :
elif [ -z "${host_file:-}" ]; then report host-file N/A "no host file given"
else
    found=$(find_file "$host_file" "${host_file##*/}")
    if [ -n "$found" ]; then report host-file REACHED "read the host's file at $found"
    else report host-file BLOCKED "the host's file is nowhere to be seen (by path, /proc/*/root, search)"; fi
fi
# A process and a loopback port of the host's: the marker is "<token>-process" / "<token>-port", which
# no argument of ours spells out (the probe would otherwise find itself).
if [ -z "${host_token:-}" ]; then report host-process N/A "no host token given"
elif found=$(find_process "$host_token-process") && [ -n "$found" ]; then report host-process REACHED "sees a host process: $found"
else report host-process BLOCKED "no host process is visible"; fi
if [ -z "${host_port:-}" ] || [ -z "${host_token:-}" ]; then report host-network N/A "no host port given"
else report host-network $("$H" tcp 127.0.0.1 "$host_port" "$host_token-port"); fi
if ! wanted host-engine; then :
elif [ -z "${host_engine:-}" ]; then report host-engine N/A "no host engine given"
elif found=$(find_engine "$host_engine" $(echo "${host_engine_tcp:-}" | tr , " " | sed "s/[^ ]*/tcp:&/g")) && [ -n "$found" ]; then report host-engine REACHED "the host's engine answers at $found"
else report host-engine BLOCKED "no socket or port reaches the host's engine"; fi

if ! wanted sandbox-file sandbox-process sandbox-engine; then :
elif [ "${place:-}" = sandbox ]; then
    for route in sandbox-file sandbox-process sandbox-engine; do report "$route" N/A "this is the sandbox itself"; done
else
    if [ -z "${sandbox_file:-}" ]; then report sandbox-file N/A "no sandbox file given"
    elif found=$(find_file "$sandbox_file" "${sandbox_file##*/}") && [ -n "$found" ]; then report sandbox-file REACHED "read the sandbox's file at $found"
    else report sandbox-file BLOCKED "the sandbox's file is nowhere to be seen"; fi
    if [ -z "${sandbox_token:-}" ]; then report sandbox-process N/A "no sandbox token given"
    elif found=$(find_process "$sandbox_token-process") && [ -n "$found" ]; then report sandbox-process REACHED "sees a sandbox process: $found"
    else report sandbox-process BLOCKED "no sandbox process is visible"; fi
    if [ -z "${sandbox_engine:-}" ]; then report sandbox-engine N/A "no sandbox engine given"
    elif found=$(find_engine "$sandbox_engine") && [ -n "$found" ]; then report sandbox-engine REACHED "the sandbox's own engine answers at $found"
    else report sandbox-engine BLOCKED "no socket reaches the sandbox's engine"; fi
fi
