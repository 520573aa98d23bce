"""A TCP proxy on 127.0.0.1 that a test can cut and restore: a service made unreachable.

    with TcpProxy("127.0.0.1", 5432) as proxy:   # clients connect to proxy.port
        proxy.cut()        # open connections reset, new ones refused
        proxy.cut(BLACKHOLE)  # open connections reset, new ones accepted and never answered
        proxy.restore()    # new connections reach the target again

One thread serves every socket through a selector, each wait bounded (the thread
checks for stop() at least every 50 ms).
"""

import contextlib
import selectors
import socket
import struct
import threading
from types import TracebackType

REFUSE = "refuse"
BLACKHOLE = "blackhole"
_TICK = 0.05
_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (not a FIN): the peer sees the connection broken."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class TcpProxy:
    """Forward connections to (host, port) until cut (see the module docstring)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode: str | None = None  # None: forwarding
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name="tcp-proxy", daemon=True
        )

    def start(self) -> "TcpProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        with self._lock:
            self._close_all()
        self._selector.close()
        self._listener.close()

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._peers) // 2

    def cut(self, mode: str = REFUSE) -> None:
        """Reset every open connection; then refuse (REFUSE) or swallow (BLACKHOLE)
        new ones until restore()."""
        assert mode in (REFUSE, BLACKHOLE)
        with self._lock:
            self.mode = mode
            self._close_all()

    def restore(self) -> None:
        """Forward new connections again (the ones a blackhole held are reset)."""
        with self._lock:
            self.mode = None
            for sock in self._held:
                _reset(sock)
            self._held.clear()

    def _close_all(self) -> None:
        for sock in list(self._peers):
            self._selector.unregister(sock)
            _reset(sock)
        self._peers.clear()
        for sock in self._held:
            _reset(sock)
        self._held.clear()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=_TICK):
                with self._lock:
                    sock = key.fileobj
                    if sock is self._listener:
                        self._accept()
                    elif sock in self._peers:
                        self._forward(sock)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        if self.mode == REFUSE:
            _reset(client)
            return
        if self.mode == BLACKHOLE:
            self._held.append(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            _reset(client)
            return
        for sock in (client, upstream):
            sock.setblocking(True)
            sock.settimeout(5)
        self._peers[client], self._peers[upstream] = upstream, client
        self._selector.register(client, selectors.EVENT_READ)
        self._selector.register(upstream, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        other = self._peers[sock]
        try:
            data = sock.recv(_CHUNK)
            if data:
                other.sendall(data)
                return
        except OSError:
            pass
        for end in (sock, other):  # one side closed or failed: close both
            self._selector.unregister(end)
            del self._peers[end]
            end.close()
