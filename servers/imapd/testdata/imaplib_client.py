# Drives exsim's IMAP4 frontend with Python's imaplib, as a mail client would.
# Usage: imaplib_client.py HOST PORT CAFILE
# Prints one JSON object per step; after {"step": "idling"} the test delivers
# a message and the script waits for the EXISTS that IDLE must report.
import imaplib
import json
import ssl
import sys
import time

host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def out(step, typ=None, data=None, **kw):
    def text(x):
        if isinstance(x, bytes):
            return x.decode("utf-8", "replace")
        if isinstance(x, tuple):
            return [text(y) for y in x]
        if isinstance(x, list):
            return [text(y) for y in x]
        return x
    print(json.dumps(dict(step=step, typ=typ, data=text(data), **kw)), flush=True)


ctx = ssl.create_default_context(cafile=cafile)
M = imaplib.IMAP4(host, port)
out("greeting", data=M.welcome)
typ, data = M.capability()
out("capability-cleartext", typ, data)
typ, data = M.starttls(ssl_context=ctx)
out("starttls", typ, data)
typ, data = M.login("CONTOSO\\alice", "P@ssw0rd")
out("login", typ, data)

typ, data = M.select("INBOX")
out("select", typ, data, uidvalidity=[x.decode() for x in M.response("UIDVALIDITY")[1]])
typ, data = M.fetch("1", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
out("fetch-header", typ, data)
typ, data = M.fetch("1", "(BODY[])")
out("fetch-body", typ, data)
typ, data = M.fetch("1", "(FLAGS)")
out("fetch-flags", typ, data)
typ, data = M.search(None, "UNSEEN")
out("search-unseen", typ, data)
typ, data = M.uid("SEARCH", None, "SUBJECT", '"two"')
out("uid-search-subject", typ, data)
typ, data = M.store("2", "+FLAGS", "(\\Flagged)")
out("store", typ, data)
typ, data = M.copy("1:2", "Archive")
out("copy", typ, data)
typ, data = M.uid("MOVE", "3", '"Deleted Items"')
out("move", typ, data)

msg = b"From: alice@contoso.com\r\nTo: bob@contoso.com\r\nSubject: from imaplib\r\n\r\nHi Bob\r\n"
for box, flags in (("Sent Items", "(\\Seen)"), ("Drafts", "(\\Draft)"), ("Deleted Items", None)):
    typ, data = M.append('"%s"' % box, flags, imaplib.Time2Internaldate(time.time()), msg)
    out("append " + box, typ, data)

typ, data = M.store("1", "+FLAGS", "(\\Deleted)")
typ, data = M.expunge()
out("expunge", typ, data)
typ, data = M.list()
out("list", typ, data)
typ, data = M.status('"Sent Items"', "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
out("status", typ, data)

# IDLE (imaplib has no idle() before Python 3.14): by hand.
tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
out("idling", data=M.readline())
line = M.readline()
while b"EXISTS" not in line:
    line = M.readline()
out("idle-exists", data=line)
M.send(b"DONE\r\n")
line = M.readline()
while not line.startswith(tag):
    line = M.readline()
out("idle-done", data=line)

typ, data = M.logout()
out("logout", typ, data)
