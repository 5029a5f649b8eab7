"""A PostgreSQL impostor for the tests: answers every connection's startup with an ErrorResponse whose message holds
terminal escapes and a newline, as a man in the middle of an unverified connection (sslmode=prefer) could.

    python3 Tests/peers/pg_hostile.py

Prints {"url": "postgres://u:pw@127.0.0.1:PORT/db"} on stdout once it listens; exits when stdin closes.
"""
import json, socket, struct, sys, threading

MESSAGE = "password authentication failed\x1b[2J\x1b[31m\nclawc: ledger OK, forged line"


def serve(client: socket.socket) -> None:
    try:
        length = struct.unpack("!I", client.recv(4))[0]
        body = client.recv(length - 4)
        if struct.unpack("!I", body[:4])[0] == 80877103:  # SSLRequest: no TLS here
            client.sendall(b"N")
            length = struct.unpack("!I", client.recv(4))[0]
            client.recv(length - 4)
        fields = b"SFATAL\x00VFATAL\x00C28P01\x00M" + MESSAGE.encode() + b"\x00\x00"
        client.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)
    except OSError:
        pass
    finally:
        client.close()


def main() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    print(json.dumps({"url": f"postgres://u:pw@127.0.0.1:{server.getsockname()[1]}/db"}), flush=True)

    def accept() -> None:
        while True:
            client, _ = server.accept()
            threading.Thread(target=serve, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


main()
