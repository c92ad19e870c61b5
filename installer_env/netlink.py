"""The few kernel netlink questions the core asks, with the standard library only.

rtnetlink: dump links and addresses, and a socket that is told of every change to them (used by
`network.py`); sock_diag: which TCP ports listen (used by `sshd.py`). Asking the kernel directly keeps
the screen's start-up and memory small; the messages are the kernel's stable ABI (linux/netlink.h,
linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/inet_diag.h).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import itertools
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

NETLINK_ROUTE = 0
NETLINK_SOCK_DIAG = 4
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_DUMP = 0x300
NLM_F_DUMP_INTR = 0x10
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22
SOCK_DIAG_BY_FAMILY = 20
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
TCP_LISTEN = 10
_NLA_F_MASK = 0x3FFF  # attribute type without the nested / byte-order flags
_CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_ATTR = struct.Struct("=HH")  # rtattr: len, type
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_DIAG_REQUEST = struct.Struct("=BBBxI48x")  # inet_diag_req_v2: family, protocol, ext, states, sockid
_DIAG_PORT = struct.Struct("!H")  # inet_diag_msg: the source port, big-endian, after 4 bytes
_U32 = struct.Struct("=I")
# The kernel fills one dump datagram up to 32 KiB; a bigger buffer (1 MiB) is a fresh mmap per read.
RECEIVE_BUFFER = 64 * 1024
_DUMP_ATTEMPTS = 5
T = TypeVar("T")
_sequence = itertools.count(1)


class NetlinkError(OSError):
    pass


@dataclass(frozen=True)
class Link:
    index: int
    flags: int  # IFF_* (linux/if.h)
    attrs: dict[int, bytes]


@dataclass(frozen=True)
class Addr:
    family: int
    prefixlen: int
    flags: int  # the 8 bits of ifaddrmsg; IFA_FLAGS holds all 32
    scope: int
    index: int
    attrs: dict[int, bytes]


def attributes(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """The rtattrs from `offset` on, by type (a repeated type keeps its last value)."""
    found: dict[int, bytes] = {}
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            break
        found[kind & _NLA_F_MASK] = data[offset + _ATTR.size : offset + length]
        offset += (length + 3) & ~3
    return found


def text(value: bytes | None) -> str | None:
    """A NUL-terminated string attribute; bytes that are not UTF-8 are kept as escapes."""
    if value is None:
        return None
    decoded = value.split(b"\0", 1)[0].decode("utf-8", errors="backslashreplace")
    return decoded or None


def u32(value: bytes | None) -> int | None:
    return int(_U32.unpack_from(value)[0]) if value is not None and len(value) >= 4 else None


def ip_text(value: bytes | None) -> str | None:
    if value is None or len(value) not in (4, 16):
        return None
    return str(ipaddress.ip_address(value))


def mac_text(value: bytes | None) -> str | None:
    return ":".join(f"{b:02x}" for b in value) if value else None


def link_kind(link: Link) -> str | None:
    info = link.attrs.get(IFLA_LINKINFO)
    return text(attributes(info).get(IFLA_INFO_KIND)) if info else None


def operstate(link: Link) -> str:
    value = link.attrs.get(IFLA_OPERSTATE)
    if not value:
        return "unknown"
    return OPERSTATES[value[0]] if value[0] < len(OPERSTATES) else str(value[0])


@contextlib.contextmanager
def _entered(netns: str) -> Iterator[None]:
    """Switch the calling thread (only it) into a network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        if libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"cannot enter network namespace {netns!r}")
        try:
            yield
        finally:
            libc.setns(own, _CLONE_NEWNET)
    finally:
        os.close(target)
        os.close(own)


def in_namespace(netns: str, make: Callable[[], T]) -> T:
    """`make()` run inside a network namespace: a socket made there stays in it."""
    result: list[T | BaseException] = []

    def run() -> None:
        try:
            with _entered(netns):
                result.append(make())
        except BaseException as e:
            result.append(e)

    thread = threading.Thread(target=run, name="netns")
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def open_socket(protocol: int, groups: int = 0, netns: str | None = None) -> socket.socket:
    """A netlink socket, in `netns` (a name under /run/netns) when given, told of `groups`' events."""

    def make() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
        try:
            if groups:  # a burst of events (many addresses at once) must not overflow it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((0, groups))
        except OSError:
            sock.close()
            raise
        return sock

    if netns is not None and not (NETNS_DIR / netns).exists():
        # Entering a missing namespace would fail anyway; say which one.
        raise FileNotFoundError(f"no network namespace {netns!r} in {NETNS_DIR}")
    return make() if netns is None else in_namespace(netns, make)


def messages(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(type, flags, body) of each netlink message in one datagram."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, flags, _seq, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            break
        yield kind, flags, data[offset + _HEADER.size : offset + length]
        offset += (length + 3) & ~3


def dump(sock: socket.socket, kind: int, body: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of every answer to a dump request; asked again when the kernel says the
    dump was interrupted by a change (an address added meanwhile)."""
    for _ in range(_DUMP_ATTEMPTS):
        seq = next(_sequence)
        sock.send(_HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
        answers: list[tuple[int, bytes]] = []
        interrupted = False
        done = False
        buffer = bytearray(RECEIVE_BUFFER)
        while not done:
            size = sock.recv_into(buffer, 0, socket.MSG_TRUNC)
            if size > len(buffer):
                raise NetlinkError(0, f"a netlink answer of {size} bytes did not fit {len(buffer)}")
            for msg_type, flags, msg in messages(bytes(buffer[:size])):
                interrupted = interrupted or bool(flags & NLM_F_DUMP_INTR)
                if msg_type == NLMSG_DONE:
                    done = True
                elif msg_type == NLMSG_ERROR:
                    error = -struct.unpack_from("=i", msg)[0]
                    if error:
                        raise NetlinkError(error, os.strerror(error))
                    done = True
                else:
                    answers.append((msg_type, msg))
        if not interrupted:
            return answers
    raise NetlinkError(0, "the kernel kept interrupting the dump")


def parse_link(body: bytes) -> Link:
    _family, _type, index, flags, _change = _IFINFO.unpack_from(body)
    return Link(index=index, flags=flags, attrs=attributes(body, _IFINFO.size))


def parse_addr(body: bytes) -> Addr:
    family, prefixlen, flags, scope, index = _IFADDR.unpack_from(body)
    return Addr(family, prefixlen, flags, scope, index, attributes(body, _IFADDR.size))


def links(sock: socket.socket) -> list[Link]:
    return [
        parse_link(m) for t, m in dump(sock, RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0)) if t == RTM_NEWLINK
    ]


def addrs(sock: socket.socket) -> list[Addr]:
    return [
        parse_addr(m) for t, m in dump(sock, RTM_GETADDR, _IFADDR.pack(0, 0, 0, 0, 0)) if t == RTM_NEWADDR
    ]


class _KeptSocket:
    """One sock_diag socket kept open: opening one costs more than the question itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._pid = 0

    def ask(self, question: Callable[[socket.socket], T]) -> T:
        with self._lock:
            if self._sock is None or self._pid != os.getpid():  # a forked child opens its own
                self._sock = open_socket(NETLINK_SOCK_DIAG)
                self._pid = os.getpid()
            try:
                return question(self._sock)
            except OSError:
                self._sock.close()
                self._sock = None
                raise


_sock_diag = _KeptSocket()


def listening_tcp_ports() -> set[int]:
    """Ports with a listening TCP socket (IPv4 or IPv6), in this process's network namespace.

    A LISTEN-only question makes the kernel walk its listening sockets alone, where reading
    /proc/net/tcp walks the whole connection table (milliseconds on a large machine).
    """

    def ask(sock: socket.socket) -> set[int]:
        ports: set[int] = set()
        for family in (socket.AF_INET, socket.AF_INET6):
            request = _DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 1 << TCP_LISTEN)
            for _type, msg in dump(sock, SOCK_DIAG_BY_FAMILY, request):
                ports.add(_DIAG_PORT.unpack_from(msg, 4)[0])
        return ports

    return _sock_diag.ask(ask)
