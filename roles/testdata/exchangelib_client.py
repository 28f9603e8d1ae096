"""Drives exsim's EWS with exchangelib, as a real client does.

Run by roles/ews_exchangelib_test.go. Environment: EWS_URL, EWS_HOSTS
(name=address,...: the lab's names, which the system resolver does not
know), EWS_USER, EWS_PASSWORD, EWS_ADDRESS, EWS_PIN (1: pin Exchange2016),
EWS_READ_SUBJECT (a message delivered by SMTP, with one attachment),
EWS_SEND_SUBJECT, EWS_SEND_TO, REQUESTS_CA_BUNDLE (the lab CA), and for the
calendar and automatic replies EWS_BOB_USER and EWS_BOB_ADDRESS (the
attendee, whose OOF is turned on) and EWS_MEETING_SUBJECT. Prints one JSON
object of what it saw; any exception fails the run.
"""
import json
import os
import socket
import sys

hosts = dict(kv.split("=", 1) for kv in os.environ["EWS_HOSTS"].split(",") if kv)
_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    return _getaddrinfo(hosts.get(host, host), *args, **kwargs)


socket.getaddrinfo = getaddrinfo

from exchangelib import DELEGATE, NTLM, Account, Configuration, Credentials, FileAttachment, Message  # noqa: E402
from exchangelib.version import EXCHANGE_2016, Version  # noqa: E402

kwargs = dict(
    service_endpoint=os.environ["EWS_URL"],
    credentials=Credentials(os.environ["EWS_USER"], os.environ["EWS_PASSWORD"]),
    auth_type=NTLM,
)
if os.environ.get("EWS_PIN") == "1":
    kwargs["version"] = Version(build=EXCHANGE_2016)
config = Configuration(**kwargs)
account = Account(os.environ["EWS_ADDRESS"], config=config, autodiscover=False, access_type=DELEGATE)
out = {"version": str(account.version.build), "api_version": account.version.api_version}

inbox = account.inbox
out["inbox_name"] = inbox.name
out["inbox_subjects"] = [m.subject for m in inbox.all().order_by("-datetime_received")[:50]]

msg = inbox.get(subject=os.environ["EWS_READ_SUBJECT"])
out["read"] = {
    "subject": msg.subject,
    "body": str(msg.text_body or msg.body),
    "sender": msg.sender.email_address if msg.sender else None,
    "attachments": [{"name": a.name, "content": a.content.decode("utf-8", "replace")} for a in msg.attachments],
}

m = Message(
    account=account,
    subject=os.environ["EWS_SEND_SUBJECT"],
    body="sent with exchangelib",
    to_recipients=[os.environ["EWS_SEND_TO"]],
)
m.attach(FileAttachment(name="notes.txt", content=b"see you at noon"))
m.send_and_save()
out["sent_items"] = [i.subject for i in account.sent.all()]

first = list(inbox.sync_items())
second = list(inbox.sync_items())
out["sync_first"] = [c[0] for c in first]
out["sync_first_count"] = len(first)
out["sync_second_count"] = len(second)

# Changes a client makes: read flag, a new folder, move, resolve names.
msg.is_read = True
msg.save(update_fields=["is_read"])
out["read_after_update"] = inbox.get(subject=os.environ["EWS_READ_SUBJECT"]).is_read
msg.categories = ["Red category"]
msg.save(update_fields=["categories"])  # rewrites the message; the ItemId must not change
out["categories"] = inbox.get(id=msg.id).categories
from exchangelib import Folder  # noqa: E402

projects = Folder(parent=inbox, name="Projects " + os.environ["EWS_PIN"])
projects.save()
out["folders"] = sorted(f.name for f in account.msg_folder_root.walk())
msg.move(projects)
out["moved"] = [i.subject for i in projects.all()]
out["resolved"] = [m.email_address for m in account.protocol.resolve_names(["bob"])]

# The sync after the changes: the read flag, then the move out.
out["sync_third"] = sorted(c[0] for c in inbox.sync_items())
for i in projects.all():
    i.delete()
projects.delete()
out["folders_after_delete"] = sorted(f.name for f in account.msg_folder_root.walk())

# Calendar: a meeting with bob (requests go out through the transport),
# found again in a CalendarView; then free/busy of bob and of alice.
import datetime  # noqa: E402
import time  # noqa: E402

from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, OofSettings  # noqa: E402
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY  # noqa: E402

utc = EWSTimeZone("UTC")
pin = int(os.environ["EWS_PIN"])
day = EWSDateTime.now(utc).replace(hour=0, minute=0, second=0, microsecond=0) + datetime.timedelta(days=2)
start = day + datetime.timedelta(hours=9 + pin)
meeting = CalendarItem(
    account=account,
    folder=account.calendar,
    subject=os.environ["EWS_MEETING_SUBJECT"],
    body="Agenda: the lab firewall.",
    location="Room 1",
    start=start,
    end=start + datetime.timedelta(hours=1),
    required_attendees=[os.environ["EWS_BOB_ADDRESS"]],
)
meeting.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
out["calendar_view"] = [i.subject for i in account.calendar.view(start=day, end=day + datetime.timedelta(days=1))]


def free_busy(address, view):
    fb = list(
        account.protocol.get_free_busy_info(
            accounts=[(address, "Required", False)],
            start=day,
            end=day + datetime.timedelta(days=1),
            merged_free_busy_interval=60,
            requested_view=view,
        )
    )[0]
    return {
        "view": fb.view_type,
        "merged": fb.merged,
        "events": [
            {
                "start": e.start.strftime("%Y-%m-%dT%H:%M:%S"),
                "busy_type": e.busy_type,
                "subject": e.details.subject if e.details else None,
            }
            for e in fb.calendar_events or []
        ],
    }


want_start = start.strftime("%Y-%m-%dT%H:%M:%S")
deadline = time.time() + 60
while True:  # the request travels through the transport to bob on EX02
    out["freebusy_bob"] = free_busy(os.environ["EWS_BOB_ADDRESS"], "DetailedMerged")
    if any(e["start"] == want_start for e in out["freebusy_bob"]["events"]) or time.time() > deadline:
        break
    time.sleep(0.5)
out["freebusy_alice"] = free_busy(os.environ["EWS_ADDRESS"], "DetailedMerged")
out["meeting_start"] = want_start

# Automatic replies: bob turns OOF on; alice writes to him twice and gets
# one automatic reply.
bob = Account(
    os.environ["EWS_BOB_ADDRESS"],
    config=Configuration(**dict(kwargs, credentials=Credentials(os.environ["EWS_BOB_USER"], os.environ["EWS_PASSWORD"]))),
    autodiscover=False,
    access_type=DELEGATE,
)
# Bob's calendar processing put the request on his calendar as Tentative.
out["bob_calendar"] = [
    f"{i.subject}/{i.legacy_free_busy_status}/{i.my_response_type}"
    for i in bob.calendar.view(start=day, end=day + datetime.timedelta(days=1))
]
bob.oof_settings = OofSettings(
    state=OofSettings.ENABLED,
    external_audience="All",
    internal_reply="Bob is out of the office.",
    external_reply="I am away.",
)
out["oof_state"] = bob.oof_settings.state
oof_subject = "oof check " + os.environ["EWS_PIN"]
for n in (1, 2):
    Message(account=account, subject=f"{oof_subject} #{n}", body="are you there?", to_recipients=[os.environ["EWS_BOB_ADDRESS"]]).send()
deadline = time.time() + 60
replies = []
while not replies and time.time() < deadline:
    replies = [m for m in inbox.filter(subject__startswith="Automatic reply: " + oof_subject)]
    if not replies:
        time.sleep(0.5)
out["oof_replies"] = [{"subject": m.subject, "body": str(m.text_body or m.body)} for m in replies]
bob.oof_settings = OofSettings(state=OofSettings.DISABLED)
out["oof_state_after"] = bob.oof_settings.state

if os.environ.get("EWS_NOTIFY_READY"):
    # Notifications: a pull and a streaming subscription on the Inbox; the
    # test delivers a message by SMTP once they exist (EWS_NOTIFY_READY
    # appears), then says so (EWS_NOTIFY_GO).
    import time  # noqa: E402

    pull_id, watermark = inbox.subscribe_to_pull(timeout=5)
    stream_id = inbox.subscribe_to_streaming()
    open(os.environ["EWS_NOTIFY_READY"], "w").close()
    deadline = time.time() + 60
    while not os.path.exists(os.environ["EWS_NOTIFY_GO"]):
        if time.time() > deadline:
            raise TimeoutError("the test did not deliver")
        time.sleep(0.1)
    events = [e for n in inbox.get_events(pull_id, watermark) for e in n.events]
    out["pull_events"] = [type(e).__name__ for e in events]
    new_mail = [e.item_id.id for e in events if type(e).__name__ == "NewMailEvent"]
    out["pull_new_mail"] = [m.subject for m in account.fetch(ids=[(i, None) for i in new_mail])]
    out["stream_events"] = []
    for n in inbox.get_streaming_events(stream_id, connection_timeout=1, max_notifications_returned=1):
        out["stream_events"] += [type(e).__name__ for e in n.events]
    inbox.unsubscribe(pull_id)
    inbox.unsubscribe(stream_id)

if os.environ.get("EWS_IMPERSONATOR"):
    # ExchangeImpersonation: the service account reads bob's Inbox (on
    # another server: X-AnchorMailbox routes it there); alice may not.
    from exchangelib import IMPERSONATION  # noqa: E402

    def as_bob(user):
        cfg = Configuration(**dict(kwargs, credentials=Credentials(user, os.environ["EWS_PASSWORD"])))
        return Account(os.environ["EWS_SEND_TO"], config=cfg, autodiscover=False, access_type=IMPERSONATION)

    out["impersonated"] = [m.subject for m in as_bob(os.environ["EWS_IMPERSONATOR"]).inbox.all()[:50]]
    try:
        as_bob(os.environ["EWS_USER"]).inbox.all().count()
        out["impersonation_denied"] = "no error"
    except Exception as e:  # noqa: BLE001 - the error's name is the result
        out["impersonation_denied"] = type(e).__name__
json.dump(out, sys.stdout)
