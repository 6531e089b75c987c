/* udpgen: minimal UDP packet blaster for bench/packet (compiled by run.py).
 *
 * AF_PACKET raw socket, qdisc bypass, sendmmsg in batches; every frame has the
 * next source port in [sport_min, sport_max] (one flow per port), a fixed
 * payload, a correct IPv4 header checksum and UDP checksum 0 (allowed on IPv4).
 * Frames refused at the sender (ENOBUFS/EAGAIN: veth backlog full) are
 * skipped and counted, not fatal -- trafgen 0.6.8 exits on them (TX_RING on veth).
 *
 * usage: udpgen IFACE DST_MAC SRC_MAC SRC_IP DST_IP DPORT PAYLOAD SPORT_MIN SPORT_MAX
 * Runs until SIGTERM/SIGINT, then prints "sent N" on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define MAXF 2048

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static void parse_mac(const char *s, uint8_t *m) {
    if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
        fprintf(stderr, "bad mac %s\n", s);
        exit(2);
    }
}

static uint16_t csum(const void *p, int len) {
    const uint16_t *w = p;
    uint32_t s = 0;
    for (; len > 1; len -= 2) s += *w++;
    if (len) s += *(const uint8_t *)w;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: %s IFACE DST_MAC SRC_MAC SRC_IP DST_IP DPORT PAYLOAD SPORT_MIN SPORT_MAX\n", argv[0]);
        return 2;
    }
    int ifindex = if_nametoindex(argv[1]);
    if (!ifindex) { perror("if_nametoindex"); return 1; }
    uint8_t dmac[6], smac[6];
    parse_mac(argv[2], dmac);
    parse_mac(argv[3], smac);
    uint32_t saddr = inet_addr(argv[4]), daddr = inet_addr(argv[5]);
    int dport = atoi(argv[6]), plen = atoi(argv[7]);
    int pmin = atoi(argv[8]), pmax = atoi(argv[9]);
    int flen = 14 + 20 + 8 + plen;
    if (flen > MAXF || pmin < 1 || pmax > 65535 || pmin > pmax) { fprintf(stderr, "bad args\n"); return 2; }

    int fd = socket(AF_PACKET, SOCK_RAW, 0);   /* protocol 0: transmit only, never receives */
    if (fd < 0) { perror("socket"); return 1; }
    int one = 1, sndbuf = 16 << 20;
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
    memcpy(sll.sll_addr, dmac, 6);

    static uint8_t frames[BATCH][MAXF];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        uint8_t *f = frames[i];
        memcpy(f, dmac, 6);
        memcpy(f + 6, smac, 6);
        f[12] = 0x08; f[13] = 0x00;
        struct iphdr *ip = (struct iphdr *)(f + 14);
        ip->version = 4; ip->ihl = 5; ip->tos = 0;
        ip->tot_len = htons(20 + 8 + plen);
        ip->id = 0; ip->frag_off = htons(IP_DF); ip->ttl = 64; ip->protocol = IPPROTO_UDP;
        ip->saddr = saddr; ip->daddr = daddr; ip->check = 0;
        ip->check = csum(ip, 20);
        struct udphdr *u = (struct udphdr *)(f + 34);
        u->dest = htons(dport); u->len = htons(8 + plen); u->check = 0;
        memset(f + 42, 0x42, plen);
        iov[i].iov_base = f; iov[i].iov_len = flen;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_name = &sll;
        msgs[i].msg_hdr.msg_namelen = sizeof sll;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);

    unsigned long long sent = 0, dropped = 0;
    int port = pmin;
    while (!stop) {
        for (int i = 0; i < BATCH; i++) {
            ((struct udphdr *)(frames[i] + 34))->source = htons(port);
            if (++port > pmax) port = pmin;
        }
        int off = 0;
        while (off < BATCH && !stop) {
            int n = sendmmsg(fd, msgs + off, BATCH - off, 0);
            if (n < 0) {
                if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) { dropped++; off++; continue; }
                perror("sendmmsg");
                return 1;
            }
            off += n;
            sent += n;
        }
    }
    printf("sent %llu dropped %llu\n", sent, dropped);
    return 0;
}
