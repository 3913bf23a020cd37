/*
 * TCP bulk sender for the net suite's bulk-recv and proxy cases (built by
 * bench/net/main.ts into bench/.build/net-sender).
 *
 *   net-sender HOST PORT BYTES [COUNT]
 *
 * COUNT times (default 1): connects to HOST:PORT (IPv4), sends BYTES bytes
 * from a 1 MiB buffer with blocking send(), half-closes, waits for the
 * receiver's EOF (so the receiver has read everything) and prints
 * `seconds=S` for that connection (connect to EOF). Blocking socket, one
 * thread: the sender's cost is the same for every receiver.
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
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "net-sender: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s HOST PORT BYTES [COUNT]\n", argv[0]);
    return 2;
  }
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
  if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
    fprintf(stderr, "net-sender: bad IPv4 address %s\n", argv[1]);
    return 2;
  }
  long long total = atoll(argv[3]);
  int count = argc > 4 ? atoi(argv[4]) : 1;
  size_t cap = 1 << 20;
  unsigned char *buf = malloc(cap);
  if (buf == NULL) die("malloc");
  for (size_t i = 0; i < cap; i++) buf[i] = (unsigned char)(i * 31 + 7);
  for (int k = 0; k < count; k++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    double t0 = now();
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    long long left = total;
    while (left > 0) {
      size_t n = left < (long long)cap ? (size_t)left : cap;
      ssize_t w = send(s, buf, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        die("send");
      }
      left -= w;
    }
    if (shutdown(s, SHUT_WR) < 0) die("shutdown");
    /* The receiver closes after reading everything: wait for its EOF. */
    for (;;) {
      ssize_t r = recv(s, buf, cap, 0);
      if (r > 0) continue;
      if (r < 0 && errno == EINTR) continue;
      break;
    }
    double t1 = now();
    close(s);
    printf("seconds=%.6f\n", t1 - t0);
    fflush(stdout);
  }
  return 0;
}
