"""Idle memory of HTTP/2 client connections: opens N h2c connections one
after the other (prior knowledge), sends one GET on each, reads its
response, keeps them all open and reports the proxy's RSS growth per
connection 2 s and 7 s later.

usage: python3 bench/h2_idle_mem.py PORT N PID
(an `http2 = true` listener on 127.0.0.1:PORT; PID: the proxy's)
"""
import socket, struct, sys, time, os
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmRSS'): return int(l.split()[1])
def frame(t, f, s, p): return struct.pack('>I', len(p))[1:] + bytes([t, f]) + struct.pack('>I', s) + p
def lit(name, value):
    return bytes([0]) + bytes([len(name)]) + name + bytes([len(value)]) + value
block = bytes([0x82, 0x86, 0x84]) + lit(b':authority', b'127.0.0.1')  # GET http /
hello = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + frame(4, 0, 0, b'') + frame(1, 5, 1, block)
socks = []
before = rss()
def one():
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(hello)
    socks.append(s)
    buf = b''
    done = False
    while not done:
        buf += s.recv(65536)
        while len(buf) >= 9:
            ln = int.from_bytes(buf[:3], 'big'); t = buf[3]; f = buf[4]; sid = int.from_bytes(buf[5:9], 'big') & 0x7fffffff
            if len(buf) < 9 + ln: break
            buf = buf[9+ln:]
            if t == 4 and not f & 1: s.sendall(frame(4, 1, 0, b''))
            if sid == 1 and f & 1 and t in (0, 1): done = True
for i in range(n):
    one()
time.sleep(2)  # past the 250 ms idle tick that releases buffers
after = rss()
print(f'{n} idle h2c connections: RSS {before} -> {after} KiB, {(after-before)*1024/n:.0f} bytes per connection after 2 s')
time.sleep(5)
after = rss()
print(f'  after 7 s: {(after-before)*1024/n:.0f} bytes per connection')
