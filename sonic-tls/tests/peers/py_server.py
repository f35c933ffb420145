# A TLS server on Python's ssl module (OpenSSL underneath), for sonic-tls's interop tests.
# argv: cert key ca version mode; mode: plain | mtls | truncate | garbage
import socket, ssl, sys

cert, key, ca, ver, mode = sys.argv[1:6]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print("PORT", ls.getsockname()[1], flush=True)
raw, _ = ls.accept()
if mode == "garbage":
    raw.recv(4096)  # the ClientHello
    raw.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(range(256)) * 4)
    raw.close()
    print("SENT-GARBAGE", flush=True)
    sys.exit(0)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[ver]
ctx.minimum_version = v
ctx.maximum_version = v
if mode == "mtls":
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca)
c = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
print("VERSION", c.version(), flush=True)
if mode == "mtls":
    subject = dict(x[0] for x in c.getpeercert()["subject"])
    print("CLIENT", subject["commonName"], flush=True)
data = b""
while not data.endswith(b"\n"):
    d = c.recv(4096)
    if not d:
        break
    data += d
print("GOT", data.decode().strip(), flush=True)
line = sys.stdin.readline()
c.sendall(line.encode())
if mode == "truncate":
    # Close the TCP stream without close_notify.
    c.close()
    print("TRUNCATED-SENT", flush=True)
    sys.exit(0)
try:
    d = c.recv(4096)
    print("CLEAN" if d == b"" else "EXTRA", flush=True)
except ssl.SSLEOFError:
    print("RAGGED", flush=True)
