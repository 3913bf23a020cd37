/*
 * no-io-uring: runs a command with io_uring blocked the way Docker's default
 * seccomp profile blocks it: io_uring_setup (425), io_uring_enter (426) and
 * io_uring_register (427) fail with EPERM; every other syscall is allowed.
 * The filter is inherited by every child and thread of the command.
 *
 * Usage: no-io-uring COMMAND [ARG...]
 *
 * Built by test/helpers/no-io-uring.ts with the system C compiler into a
 * temporary directory. x86-64 and arm64 only (both number these syscalls
 * 425/426/427); on another architecture it refuses to run (exit 125).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define UK_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define UK_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "no-io-uring supports x86-64 and arm64 only"
#endif

#define UK_NR_IO_URING_SETUP 425
#define UK_NR_IO_URING_ENTER 426
#define UK_NR_IO_URING_REGISTER 427

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s COMMAND [ARG...]\n", argv[0]);
    return 125;
  }
  struct sock_filter filter[] = {
    /* A foreign architecture (a 32-bit syscall entry) and x32 numbers (nr | 0x40000000) pass
       untouched: a test harness, not a sandbox; Node makes native 64-bit syscalls only. */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, UK_AUDIT_ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, UK_NR_IO_URING_SETUP, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, UK_NR_IO_URING_ENTER, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, UK_NR_IO_URING_REGISTER, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
  };
  struct sock_fprog prog = {
    .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
    .filter = filter,
  };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "no-io-uring: prctl(PR_SET_NO_NEW_PRIVS): %s\n", strerror(errno));
    return 125;
  }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    fprintf(stderr, "no-io-uring: seccomp(SECCOMP_SET_MODE_FILTER): %s\n", strerror(errno));
    return 125;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "no-io-uring: exec %s: %s\n", argv[1], strerror(errno));
  return 127;
}
