/*
 * TCP sink for the net suite's send-zc and proxy cases, and the ceiling of
 * its bulk-recv case (built by bench/net/main.ts into bench/.build/net-sink).
 *
 *   net-sink HOST            blocking recv() into a 1 MiB buffer
 *   net-sink HOST spin SIZE  recv(MSG_DONTWAIT) in a loop that never sleeps,
 *                            into a SIZE-byte buffer
 *
 * Listens on HOST (IPv4) with an ephemeral port, prints
 * `listening on HOST:PORT`, then serves connections one after the other:
 * receives until EOF, discarding the bytes, then closes. One thread: the
 * receiver's cost is the same for every sender. The spin mode is the
 * cheapest receiver there is on this machine (no sleep, no wake-up, a buffer
 * that stays in cache): what the sender and the kernel allow, whatever the
 * receiver.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "net-sink: %s: %s\n", what, strerror(errno));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s HOST\n", argv[0]);
    return 2;
  }
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
  if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
    fprintf(stderr, "net-sink: bad IPv4 address %s\n", argv[1]);
    return 2;
  }
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) die("socket");
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  if (listen(l, 64) < 0) die("listen");
  socklen_t len = sizeof sa;
  if (getsockname(l, (struct sockaddr *)&sa, &len) < 0) die("getsockname");
  printf("listening on %s:%d\n", argv[1], ntohs(sa.sin_port));
  fflush(stdout);
  int spin = argc > 2 && strcmp(argv[2], "spin") == 0;
  size_t cap = spin && argc > 3 ? (size_t)atol(argv[3]) : (size_t)1 << 20;
  if (cap == 0) cap = 1 << 20;
  unsigned char *buf = malloc(cap);
  if (buf == NULL) die("malloc");
  for (;;) {
    int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept");
    }
    for (;;) {
      ssize_t n = recv(c, buf, cap, spin ? MSG_DONTWAIT : 0);
      if (n > 0) continue;
      if (n < 0 && (errno == EINTR || (spin && (errno == EAGAIN || errno == EWOULDBLOCK)))) continue;
      break; /* EOF or error (a reset sender): next connection */
    }
    close(c);
  }
}
