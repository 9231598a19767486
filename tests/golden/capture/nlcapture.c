/* nlcapture: an LD_PRELOAD shim that records the netlink traffic of a
 * program (iproute2's ip, tc, devlink) so that vfsteer's encoders can be
 * checked byte for byte against what iproute2 sends.
 *
 * Each record appended to $NLCAPTURE_FILE is one line:
 *   <S|R> <netlink protocol> <hex bytes of one datagram>
 * S = sent by the program, R = received from the kernel.
 * Only AF_NETLINK sockets are recorded, and ethtool's flow rule requests
 * (ioctl SIOCETHTOOL, struct ethtool_rxnfc), as
 *   I <ethtool command> <hex bytes of the struct as the program passed it>
 * recorded before the kernel sees it (a veth refuses them: the request is
 * what matters). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

static int is_netlink(int fd, int *protocol) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 || ss.ss_family != AF_NETLINK) return 0;
  socklen_t plen = sizeof *protocol;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, protocol, &plen) != 0) *protocol = -1;
  return 1;
}

static void record(char dir, int protocol, const struct iovec *iov, size_t iovcnt, size_t total) {
  const char *path = getenv("NLCAPTURE_FILE");
  if (!path) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%c %d ", dir, protocol);
  size_t left = total;
  for (size_t i = 0; i < iovcnt && left > 0; ++i) {
    const unsigned char *p = iov[i].iov_base;
    size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
    for (size_t j = 0; j < n; ++j) fprintf(f, "%02x", p[j]);
    left -= n;
  }
  fputc('\n', f);
  fclose(f);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  static ssize_t (*real)(int, const struct msghdr *, int);
  if (!real) real = dlsym(RTLD_NEXT, "sendmsg");
  ssize_t rc = real(fd, msg, flags);
  int protocol;
  if (rc > 0 && is_netlink(fd, &protocol)) record('S', protocol, msg->msg_iov, msg->msg_iovlen, rc);
  return rc;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
               socklen_t alen) {
  static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
  if (!real) real = dlsym(RTLD_NEXT, "sendto");
  ssize_t rc = real(fd, buf, len, flags, addr, alen);
  int protocol;
  struct iovec iov = {(void *)buf, len};
  if (rc > 0 && is_netlink(fd, &protocol)) record('S', protocol, &iov, 1, rc);
  return rc;
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
  return sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
  static ssize_t (*real)(int, struct msghdr *, int);
  if (!real) real = dlsym(RTLD_NEXT, "recvmsg");
  ssize_t rc = real(fd, msg, flags);
  int protocol;
  /* MSG_PEEK|MSG_TRUNC probes (iproute2 sizes its buffer this way) are not data. */
  if (rc > 0 && !(flags & MSG_PEEK) && is_netlink(fd, &protocol))
    record('R', protocol, msg->msg_iov, msg->msg_iovlen, rc);
  return rc;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen) {
  static ssize_t (*real)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
  if (!real) real = dlsym(RTLD_NEXT, "recvfrom");
  ssize_t rc = real(fd, buf, len, flags, addr, alen);
  int protocol;
  struct iovec iov = {buf, (size_t)rc};
  if (rc > 0 && !(flags & MSG_PEEK) && is_netlink(fd, &protocol)) record('R', protocol, &iov, 1, rc);
  return rc;
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
  return recvfrom(fd, buf, len, flags, NULL, NULL);
}

int ioctl(int fd, unsigned long request, ...) {
  static int (*real)(int, unsigned long, ...);
  if (!real) real = dlsym(RTLD_NEXT, "ioctl");
  va_list ap;
  va_start(ap, request);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (request == SIOCETHTOOL && arg) {
    const struct ifreq *ifr = arg;
    const struct ethtool_rxnfc *nfc = (const void *)ifr->ifr_data;
    if (nfc && (nfc->cmd == ETHTOOL_SRXCLSRLINS || nfc->cmd == ETHTOOL_SRXCLSRLDEL)) {
      const char *path = getenv("NLCAPTURE_FILE");
      FILE *f = path ? fopen(path, "a") : NULL;
      if (f) {
        fprintf(f, "I %u ", nfc->cmd);
        const unsigned char *p = (const void *)nfc;
        for (size_t i = 0; i < sizeof *nfc; ++i) fprintf(f, "%02x", p[i]);
        fputc('\n', f);
        fclose(f);
      }
    }
  }
  return real(fd, request, arg);
}
