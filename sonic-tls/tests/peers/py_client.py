# A TLS client on Python's ssl module (OpenSSL underneath), for sonic-tls's interop tests.
# argv: port ca version mode; mode: plain | garbage
import socket, ssl, sys

port, ca, ver, mode = sys.argv[1:5]
raw = socket.create_connection(("127.0.0.1", int(port)))
if mode == "garbage":
    raw.sendall(bytes((i * 37 + 11) % 256 for i in range(2048)))
    try:
        raw.recv(4096)
    except ConnectionError:
        pass
    print("SENT-GARBAGE", flush=True)
    sys.exit(0)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[ver]
ctx.minimum_version = v
ctx.maximum_version = v
ctx.set_alpn_protocols(["http/1.1"])
try:
    c = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
except ssl.SSLError as e:
    print("HANDSHAKE-FAILED", e.reason, flush=True)
    sys.exit(3)
print("VERSION", c.version(), flush=True)
c.sendall(b"ping from the peer\n")
data = b""
while not data.endswith(b"\n"):
    data += c.recv(4096)
print("GOT", data.decode().strip(), flush=True)
sys.stdin.readline()
c.unwrap()  # sends close_notify, then waits for the server's
print("CLEAN", flush=True)
