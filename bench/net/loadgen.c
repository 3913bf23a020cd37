/*
 * TCP echo load generator for the net bench suite (built by bench/net/main.ts
 * with cc -O2 into bench/.build/net-loadgen).
 *
 *   net-loadgen HOST PORT CONNS MSG_BYTES DURATION_MS [WARMUP_MS]
 *
 * Opens CONNS connections (TCP_NODELAY); on each, sends MSG_BYTES, waits
 * until MSG_BYTES came back, and repeats (one message in flight per
 * connection). One thread, non-blocking sockets, epoll (level-triggered).
 * Counts round trips completed after WARMUP_MS (default 200) for
 * DURATION_MS, then prints:
 *   requests_per_s=<float> requests=<n> elapsed_ms=<float> total_requests=<n> conns=<n> msg_bytes=<n>
 * (total_requests: warm-up included, for per-request costs measured outside).
 * Exits non-zero (with a message on stderr) on any connection error or a
 * wrong echo byte.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  size_t sent;  /* bytes of the current message sent */
  size_t recvd; /* bytes of the current message received */
  int want_out; /* EPOLLOUT registered */
} conn_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "net-loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int epfd;
static unsigned char *msg;
static unsigned char *rbuf;
static size_t msg_len;

static void set_events(conn_t *c, int out) {
  if (c->want_out == out) return;
  struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
  c->want_out = out;
}

/* Sends what is left of the current message; registers EPOLLOUT when the socket is full. */
static void pump_send(conn_t *c) {
  while (c->sent < msg_len) {
    ssize_t n = send(c->fd, msg + c->sent, msg_len - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_events(c, 1);
        return;
      }
      die("send");
    }
    c->sent += (size_t)n;
  }
  set_events(c, 0);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s HOST PORT CONNS MSG_BYTES DURATION_MS [WARMUP_MS]\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  int nconn = atoi(argv[3]);
  msg_len = (size_t)atol(argv[4]);
  double duration = atof(argv[5]);
  double warmup = argc > 6 ? atof(argv[6]) : 200;
  if (nconn < 1 || msg_len < 1 || duration <= 0) {
    fprintf(stderr, "net-loadgen: bad arguments\n");
    return 2;
  }

  msg = malloc(msg_len);
  rbuf = malloc(msg_len);
  for (size_t i = 0; i < msg_len; i++) msg[i] = (unsigned char)('a' + i % 26);

  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    fprintf(stderr, "net-loadgen: bad IPv4 address %s\n", host);
    return 2;
  }

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  conn_t *conns = calloc((size_t)nconn, sizeof *conns);
  for (int i = 0; i < nconn; i++) {
    /* Blocking connect (loopback: immediate), then non-blocking I/O. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl");
    conns[i].fd = fd;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  }

  const int MAXEV = 256;
  struct epoll_event evs[256];
  double t0 = now_ms();
  double measure_from = t0 + warmup;
  double end = measure_from + duration;
  int measuring = 0;
  uint64_t count = 0, total = 0;
  double start = 0;

  for (int i = 0; i < nconn; i++) pump_send(&conns[i]);

  for (;;) {
    int n = epoll_wait(epfd, evs, MAXEV, 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int k = 0; k < n; k++) {
      conn_t *c = evs[k].data.ptr;
      if (evs[k].events & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err ? err : ECONNRESET;
        die("connection");
      }
      if (evs[k].events & EPOLLOUT) pump_send(c);
      if (evs[k].events & EPOLLIN) {
        for (;;) {
          ssize_t r = recv(c->fd, rbuf, msg_len - c->recvd, 0);
          if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            die("recv");
          }
          if (r == 0) {
            fprintf(stderr, "net-loadgen: the server closed a connection\n");
            return 1;
          }
          if (memcmp(rbuf, msg + c->recvd, (size_t)r) != 0) {
            fprintf(stderr, "net-loadgen: wrong bytes echoed\n");
            return 1;
          }
          c->recvd += (size_t)r;
          if (c->recvd == msg_len) {
            if (c->sent != msg_len) {
              fprintf(stderr, "net-loadgen: echo ahead of the message\n");
              return 1;
            }
            c->recvd = 0;
            c->sent = 0;
            total++;
            if (measuring) count++;
            pump_send(c);
            break; /* one message in flight: nothing more to read now */
          }
        }
      }
    }
    double t = now_ms();
    if (!measuring && t >= measure_from) {
      measuring = 1;
      start = t;
      count = 0;
    }
    if (measuring && t >= end) {
      double elapsed = t - start;
      printf("requests_per_s=%.1f requests=%llu elapsed_ms=%.1f total_requests=%llu conns=%d msg_bytes=%zu\n",
        count * 1e3 / elapsed, (unsigned long long)count, elapsed, (unsigned long long)total, nconn, msg_len);
      for (int i = 0; i < nconn; i++) close(conns[i].fd);
      return 0;
    }
  }
}
