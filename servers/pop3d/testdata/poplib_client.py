"""Drives exsim's POP3 server with Python's poplib; prints one JSON object.

usage: poplib_client.py MODE HOST PORT CAFILE USER PASSWORD
MODE is plain (USER/PASS in clear text), stls (STLS first) or ssl (POP3_SSL).
"""
import json
import poplib
import ssl
import sys

mode, host, port, cafile, user, password = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
if mode == "ssl":
    p = poplib.POP3_SSL(host, int(port), context=ctx, timeout=10)
else:
    p = poplib.POP3(host, int(port), timeout=10)
out["welcome"] = p.getwelcome().decode()
out["capa_before"] = sorted(p.capa().keys())
if mode == "stls":
    out["stls"] = p.stls(context=ctx).decode()
    out["capa_after"] = sorted(p.capa().keys())
p.user(user)
out["logon"] = p.pass_(password).decode()
out["stat"] = list(p.stat())
out["list"] = [l.decode() for l in p.list()[1]]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
out["retr1"] = [l.decode() for l in p.retr(1)[1]]
out["top2"] = [l.decode() for l in p.top(2, 1)[1]]
out["dele"] = p.dele(2).decode()
out["quit"] = p.quit().decode()
print(json.dumps(out))
