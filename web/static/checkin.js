// Check-in of a drawn expert (My assignments): a passkey assertion with user
// verification for the tender's evaluation session. A file of its own, not inline, so the
// page runs under a Content-Security-Policy without 'unsafe-inline'.
import { getAssertion, postJson } from "/static/passkey.js";
const msg = document.getElementById("checkin-message");
for (const b of document.querySelectorAll("button.checkin")) {
  b.addEventListener("click", async () => {
    const code = encodeURIComponent(b.dataset.tender);
    try {
      const start = await postJson(`/api/v1/tenders/${code}/checkin/start`, {});
      const credential = await getAssertion(start.options);
      await postJson(`/api/v1/tenders/${code}/checkin/finish`, { ceremony_id: start.ceremony_id, credential });
      location.reload();
    } catch (e) {
      msg.textContent = e.message ?? String(e);
      msg.className = "error";
      msg.hidden = false;
    }
  });
}
