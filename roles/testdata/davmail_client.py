"""Reads alice's Inbox and sends a message through DavMail, as a plain IMAP
and SMTP client does: DavMail turns both into EWS calls to exsim.

Run by roles/davmail_test.go. Environment: DAVMAIL_IMAP and DAVMAIL_SMTP
(host:port of DavMail's listeners), MAIL_USER, MAIL_PASSWORD, READ_SUBJECT
(a message delivered to alice by SMTP), SEND_SUBJECT, SEND_FROM, SEND_TO.
Prints one JSON object of what it saw; any exception fails the run.
"""
import email
import imaplib
import json
import os
import smtplib
import sys
from email.message import EmailMessage


def hostport(v):
    host, port = v.rsplit(":", 1)
    return host, int(port)


out = {}
imap = imaplib.IMAP4(*hostport(os.environ["DAVMAIL_IMAP"]))
imap.login(os.environ["MAIL_USER"], os.environ["MAIL_PASSWORD"])
typ, data = imap.select("INBOX", readonly=True)
out["select"] = typ
typ, data = imap.search(None, "ALL")
out["subjects"] = []
for num in data[0].split():
    typ, msg = imap.fetch(num, "(BODY.PEEK[])")
    m = email.message_from_bytes(msg[0][1])
    out["subjects"].append(str(m["Subject"]))
    if m["Subject"] == os.environ["READ_SUBJECT"]:
        part = m.get_payload(decode=True) if not m.is_multipart() else m.get_payload(0).get_payload(decode=True)
        out["body"] = part.decode("utf-8", "replace")
imap.logout()

msg = EmailMessage()
msg["From"] = os.environ["SEND_FROM"]
msg["To"] = os.environ["SEND_TO"]
msg["Subject"] = os.environ["SEND_SUBJECT"]
msg.set_content("sent through DavMail")
smtp = smtplib.SMTP(*hostport(os.environ["DAVMAIL_SMTP"]), timeout=60)
smtp.login(os.environ["MAIL_USER"], os.environ["MAIL_PASSWORD"])
out["refused"] = smtp.send_message(msg)
smtp.quit()
json.dump(out, sys.stdout)
