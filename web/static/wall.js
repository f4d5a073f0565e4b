// The regulator's monitoring wall: new alerts arrive as server-sent events and go on top
// of the list. The browser reconnects by itself (each response lasts a short while) and
// sends the last alert's id, so nothing is missed or shown twice. A file of its own, not
// inline, so the page runs under a Content-Security-Policy without 'unsafe-inline'.
const wall = document.getElementById("wall");
const status = document.getElementById("wall-status");
const shown = new Set([...wall.querySelectorAll("li[data-seq]")].map((li) => li.dataset.seq));
const source = new EventSource(wall.dataset.stream);
source.addEventListener("open", () => {
  status.textContent = status.dataset.live;
  status.className = "ok";
});
source.addEventListener("error", () => {
  status.textContent = status.dataset.lost;
  status.className = "muted";
});
source.addEventListener("alert", (e) => {
  const a = JSON.parse(e.data);
  if (shown.has(String(a.audit_seq))) return;
  shown.add(String(a.audit_seq));
  const li = document.createElement("li");
  li.className = `alert-row ${a.severity} new`;
  li.dataset.rule = a.rule;
  li.dataset.seq = String(a.audit_seq);
  const when = document.createElement("time");
  when.dateTime = a.raised_at;
  when.textContent = new Date(a.raised_at).toLocaleString();
  const link = document.createElement("a");
  link.href = `/supervision/alerts/${encodeURIComponent(a.alert_id)}`;
  link.textContent = `${a.kind} · ${a.summary}`;
  li.append(when, " · ", link);
  if (a.tender_code) li.append(` · ${a.tender_code}`);
  wall.prepend(li);
});
