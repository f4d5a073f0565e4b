// The live view of an auction or listing (issue 17): follows the server-sent events of
// /api/v1/auctions/CODE/live (the browser's EventSource reconnects by itself and sends the
// last bid seq it saw), shows the price, the bid history by bidder number and a countdown
// synced to the server's clock (each update carries the server time; the local clock is
// only used to tick between updates), and, for an admitted bidder, sends bids to the JSON
// API and says whether they are the highest bidder. After the end: a custodian unlocks
// their share of the sealed reserve's key (底价), and the winner signs the deal
// confirmation with their passkey (the challenge is the confirmation's SHA-256).

import { fenToYuan, yuanToFen } from "./bid.js";
import { getAssertion, postJson } from "./passkey.js";

const page = document.getElementById("auction");
if (page) init(page);

function init(page) {
  const code = page.dataset.code;
  const me = page.dataset.me;
  const $ = (id) => document.getElementById(id);
  let endsAt = Number(page.dataset.ends);
  // server time − local time, refreshed with every update.
  let offset = Number(page.dataset.serverTime) - Date.now();
  let state = page.dataset.state;
  let leader = null;
  const tbody = document.querySelector("#bids tbody");
  const ended = () => ["ended", "deal", "no_deal", "cancelled"].includes(state);
  const decided = () => ["deal", "no_deal", "cancelled"].includes(state);
  const api = `/api/v1/auctions/${encodeURIComponent(code)}`;
  reserveAndSignature(api, $);

  function tick() {
    const left = endsAt - (Date.now() + offset);
    const el = $("live-countdown");
    if (ended() || (state !== "bidding" && state !== "listing")) {
      el.textContent = ended() ? page.dataset.tEnded : "—";
      return;
    }
    const s = Math.max(0, Math.floor(left / 1000));
    const d = Math.floor(s / 86400);
    const hms = [Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60, s % 60]
      .map((n) => String(n).padStart(2, "0"))
      .join(":");
    el.textContent = d > 0 ? `${d}d ${hms}` : hms;
  }
  setInterval(tick, 250);
  tick();

  function standing() {
    const el = $("live-standing");
    if (!me || leader === null) return;
    el.hidden = false;
    el.className = leader === me ? "ok" : "error";
    el.textContent = leader === me ? page.dataset.tHighest : page.dataset.tOutbid;
    el.dataset.leader = leader === me ? "me" : "other";
  }

  const source = new EventSource(`/api/v1/auctions/${encodeURIComponent(code)}/live`);
  source.addEventListener("update", (ev) => {
    const u = JSON.parse(ev.data);
    offset = u.server_time - Date.now();
    if (u.ends_at > endsAt && state === "bidding") {
      const ext = $("live-extended");
      ext.hidden = false;
      ext.textContent = page.dataset.tExtended;
    }
    endsAt = u.ends_at;
    // The result came in while the page was open (the reserve opened): show it.
    if (u.state !== state && ["deal", "no_deal"].includes(u.state)) setTimeout(() => location.reload(), 300);
    state = u.state;
    page.dataset.state = state;
    $("live-state").dataset.state = state;
    if (u.current_price_fen != null) $("live-price").textContent = fenToYuan(u.current_price_fen);
    for (const b of u.bids) {
      if (tbody.querySelector(`tr[data-seq="${b.seq}"]`)) continue;
      const tr = document.createElement("tr");
      tr.dataset.seq = b.seq;
      for (const text of [b.seq, b.bidder_no, fenToYuan(b.amount_fen), new Date(b.placed_at).toLocaleString()]) {
        const td = document.createElement("td");
        td.textContent = String(text);
        tr.append(td);
      }
      tbody.prepend(tr);
      leader = b.bidder_no;
    }
    if (leader === null && tbody.firstElementChild) leader = tbody.firstElementChild.children[1].textContent;
    standing();
    tick();
    if (decided()) source.close();
  });

  const form = $("bid-form");
  if (!form) return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("bid-message");
    msg.textContent = "";
    const fen = yuanToFen(form.amount.value);
    if (fen === null) {
      msg.textContent = document.documentElement.lang === "en" ? "not an amount in yuan" : "金额格式不正确";
      return;
    }
    const res = await fetch(`/api/v1/auctions/${encodeURIComponent(code)}/bids`, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "content-type": "application/json",
        "x-csrf-token": document.querySelector('meta[name="csrf-token"]')?.content ?? "",
        "accept-language": document.documentElement.lang,
      },
      body: JSON.stringify({ amount_fen: fen }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      msg.textContent = body.message ?? `${res.status}`;
      return;
    }
    form.amount.value = "";
  });
}

/** The custodian's unlock of the reserve and the winner's passkey signature, when shown. */
function reserveAndSignature(api, $) {
  const unlock = $("reserve-unlock-form");
  if (unlock) {
    unlock.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const msg = $("reserve-message");
      msg.textContent = "";
      try {
        const v = await postJson(`${api}/reserve/unlock`, { passphrase: unlock.passphrase.value });
        unlock.passphrase.value = "";
        unlock.hidden = true;
        if ($("reserve-unlocked")) $("reserve-unlocked").textContent = String(v.unlocked);
        if (v.reserve_fen != null) location.reload();
      } catch (e) {
        msg.textContent = e.message;
      }
    });
  }
  const sign = $("sign-confirmation");
  if (sign) {
    sign.addEventListener("click", async () => {
      const msg = $("sign-message");
      msg.textContent = "";
      sign.disabled = true;
      try {
        const start = await postJson(`${api}/confirmation/sign/start`, {});
        const credential = await getAssertion(start.options);
        await postJson(`${api}/confirmation/sign`, { ceremony_id: start.ceremony_id, credential });
        const el = $("winner-signature");
        el.dataset.signed = "true";
        el.className = "ok";
        el.textContent = document.getElementById("auction").dataset.tSigned;
        sign.hidden = true;
      } catch (e) {
        msg.textContent = e.message ?? String(e);
        sign.disabled = false;
      }
    });
  }
}
