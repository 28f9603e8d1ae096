// exsim dashboard: live sections over server-sent events, and forms that
// post without leaving the page. Without this script every form still
// works (POST, then a redirect back to the page).
"use strict";

function flash(text, isError) {
  const f = document.getElementById("flash");
  f.textContent = text;
  f.classList.toggle("hidden", !text);
  f.classList.toggle("error", !!isError);
}

function probeButton() {
  const busy = !!document.querySelector("#status .probing");
  const b = document.getElementById("run-probe");
  if (b && !b.dataset.sent) b.disabled = busy;
}

let stream = null;

// connect opens the event stream; a hidden tab closes it (the server then
// renders nothing for it) and reopens it when shown again.
function connect() {
  if (stream) return;
  const live = document.getElementById("live");
  const es = new EventSource("/events");
  stream = es;
  es.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  es.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  es.addEventListener("section", (e) => {
    const m = JSON.parse(e.data);
    const el = document.getElementById(m.id);
    if (el) el.innerHTML = m.html;
    if (m.id === "status") probeButton();
  });
}

// Forms marked "async" post with fetch; the answer is one line of text.
document.addEventListener("submit", async (e) => {
  const form = e.target;
  if (!form.classList.contains("async")) return;
  e.preventDefault();
  const body = new URLSearchParams(new FormData(form, e.submitter));
  const button = e.submitter || form.querySelector("button");
  button.disabled = true;
  button.dataset.sent = "1";
  try {
    // getAttribute: form.action would be the field named "action".
    const resp = await fetch(form.getAttribute("action"), { method: "POST", body, headers: { "X-Exsim-Async": "1" }, credentials: "same-origin" });
    const text = (await resp.text()).trim();
    flash(text, !resp.ok);
    if (resp.ok && form.id === "fault-form") form.reset();
  } catch (err) {
    flash("request failed: " + err, true);
  } finally {
    delete button.dataset.sent;
    button.disabled = false;
    probeButton();
  }
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden && stream) {
    stream.close();
    stream = null;
    const live = document.getElementById("live");
    live.textContent = "paused";
    live.className = "live off";
  } else if (!document.hidden) {
    connect();
  }
});

document.addEventListener("DOMContentLoaded", () => {
  probeButton();
  connect();
});
