// The evaluation page (评标): sends each action of the page to the JSON API of the
// evaluation with the CSRF header and reloads the page on success (a message survives the
// reload), or shows the API's refusal in the form. Scores are typed in points with at most
// two decimals and sent as integer hundredths (no float in what is sent); the range is
// checked here for a quick answer, but the server decides and its 422 is shown as sent.
// Signing the report is a passkey assertion whose challenge is the report's SHA-256.

import { getAssertion } from "/static/passkey.js";

const root = document.getElementById("evaluation-page");
const strings = JSON.parse(document.getElementById("evaluation-strings")?.textContent ?? "{}");

/** A page string with {name} placeholders filled in. */
function t(key, vars = {}) {
  return (strings[key] ?? key).replace(/\{(\w+)\}/g, (_, n) => String(vars[n] ?? ""));
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

/** POSTs JSON to the evaluation API; throws an Error carrying the API's code, message and details. */
async function call(path, body) {
  const code = encodeURIComponent(root.dataset.code);
  const resp = await fetch(`/api/v1/tenders/${code}/evaluation${path}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": csrfToken(), "accept-language": document.documentElement.lang },
    body: JSON.stringify(body ?? {}),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(data.message ?? `HTTP ${resp.status}`);
    err.code = data.code;
    err.status = resp.status;
    err.details = data.details;
    throw err;
  }
  return data;
}

/**
 * Points with at most two decimals → integer hundredths, exactly (string arithmetic, no
 * float); null when the text is not such a number.
 */
export function toHundredths(text) {
  const m = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text ?? "");
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

function points(h) {
  return `${Math.trunc(h / 100)}.${String(Math.abs(h) % 100).padStart(2, "0")}`;
}

function errorBox(form) {
  return form.querySelector(".form-error");
}

/** Shows lines of error text in the form's error box. */
function showError(form, lines) {
  const box = errorBox(form);
  if (!box) return;
  box.replaceChildren();
  for (const line of lines) {
    const p = document.createElement("div");
    p.textContent = line;
    box.append(p);
  }
  box.hidden = false;
}

/** The API's refusal as lines: its message, then one readable line per sheet problem. */
function apiErrorLines(form, e) {
  const lines = [e.message ?? String(e)];
  const label = (bid, criterion) =>
    form.querySelector(`tr[data-bid="${CSS.escape(bid)}"] input[data-criterion="${CSS.escape(criterion ?? "")}"]`)?.dataset.label ??
    `${bid} · ${criterion ?? ""}`;
  for (const p of e.details?.problems ?? []) {
    if (p.problem === "out_of_range") {
      lines.push(t("evjs.problem.out_of_range", { what: label(p.bid_id, p.criterion), score: points(p.score), max: points(p.max) }));
    } else if (p.problem === "missing") {
      lines.push(t("evjs.problem.missing", { what: label(p.bid_id, (p.criteria ?? [])[0]), criteria: (p.criteria ?? []).join(", ") }));
    }
  }
  return lines;
}

/** Remembers a message for after the reload and reloads. */
function reloadWith(message) {
  sessionStorage.setItem("evaluation-message", message);
  location.reload();
}

/** Runs an action for a form: disables its buttons meanwhile and shows refusals. */
function onSubmit(form, action) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    errorBox(form).hidden = true;
    try {
      await action();
    } catch (e) {
      showError(form, e.lines ?? apiErrorLines(form, e));
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}

/** An error shown as given, without calling the server. */
function localError(lines) {
  const e = new Error(lines[0]);
  e.lines = lines;
  return e;
}

// ---- the agent starts the evaluation --------------------------------------------------

const KINDS = {
  formal: "formal",
  形式: "formal",
  形式评审: "formal",
  qualification: "qualification",
  资格: "qualification",
  资格评审: "qualification",
  responsiveness: "responsiveness",
  响应性: "responsiveness",
  响应性评审: "responsiveness",
};

/** "kind: criterion" lines → review criteria; throws a local error naming a bad line. */
function parseCriteria(text) {
  const out = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^([^:：]+)[:：]\s*(.+)$/.exec(line);
    const kind = m && KINDS[m[1].trim().toLowerCase()];
    if (!kind) throw localError([t("evjs.bad_criteria", { line })]);
    out.push({ id: m[2].trim(), kind });
  }
  if (out.length === 0) throw localError([t("evjs.no_criteria")]);
  return out;
}

const startForm = document.getElementById("start-form");
if (startForm) {
  onSubmit(startForm, async () => {
    const f = startForm.elements;
    const hundredths = (name) => {
      const v = toHundredths(f[name].value);
      if (v === null) throw localError([t("evjs.bad_points", { what: f[name].closest("label").textContent.trim() })]);
      return v;
    };
    const body = {
      representatives: [...startForm.querySelectorAll("input[name=representative]:checked")].map((i) => i.value),
      review_criteria: parseCriteria(f.criteria.value),
      review_rule: f.review_rule.value,
      // A lowest-evaluated-price tender has no scores: neither aggregation nor price formula.
      aggregation: f.aggregation?.value ?? "mean",
      price: null,
    };
    if (f.price_criterion?.value) {
      body.price = {
        criterion: f.price_criterion.value,
        // down_bp is in basis points: 2.00 % = 200 bp, the same digits as hundredths.
        benchmark: f.benchmark.value === "lowest" ? { kind: "lowest" } : { kind: "average_down", down_bp: hundredths("down_percent") },
        penalty_above: hundredths("penalty_above"),
        penalty_below: hundredths("penalty_below"),
      };
    }
    await call("", body);
    reloadWith(t("evjs.started"));
  });
}

// ---- members: leader ballot, review marks, score sheets -------------------------------

const ballotForm = document.getElementById("ballot-form");
if (ballotForm) {
  onSubmit(ballotForm, async () => {
    await call("/ballots", { for: ballotForm.elements.for.value });
    reloadWith(t("evjs.sent"));
  });
}

const marksForm = document.getElementById("marks-form");
if (marksForm) {
  onSubmit(marksForm, async () => {
    const marks = [];
    const missing = [];
    for (const row of marksForm.querySelectorAll("tr.mark")) {
      const verdict = row.querySelector("input[type=radio]:checked")?.value ?? "pass";
      const reason = row.querySelector("input.reason").value.trim();
      if (verdict === "fail" && !reason) missing.push(`${row.cells[0].textContent} · ${row.dataset.criterion}`);
      marks.push({ bid_id: row.dataset.bid, criterion: row.dataset.criterion, verdict, reason });
    }
    if (missing.length) throw localError(missing.map((what) => t("evjs.reason_required", { what })));
    await call("/review-marks", { marks });
    reloadWith(t("evjs.sent"));
  });
}

const scoresForm = document.getElementById("scores-form");
if (scoresForm) {
  onSubmit(scoresForm, async () => {
    const sheets = [];
    const problems = [];
    for (const row of scoresForm.querySelectorAll("tr.sheet")) {
      const scores = {};
      for (const input of row.querySelectorAll("input.score")) {
        const h = toHundredths(input.value);
        const max = Number(input.dataset.max);
        input.removeAttribute("aria-invalid");
        if (h === null) {
          problems.push(t("evjs.bad_points", { what: input.dataset.label }));
          input.setAttribute("aria-invalid", "true");
        } else if (h > max) {
          problems.push(t("evjs.out_of_range", { what: input.dataset.label, max: points(max) }));
          input.setAttribute("aria-invalid", "true");
        }
        scores[input.dataset.criterion] = h;
      }
      sheets.push({ bid_id: row.dataset.bid, scores });
    }
    if (problems.length) throw localError(problems);
    await call("/scores", { sheets });
    reloadWith(t("evjs.sent"));
  });
}

// ---- the leader: the price comparison table (lowest evaluated price) --------------------

/**
 * Yuan with at most two decimals and an optional sign → integer fen, exactly (string
 * arithmetic); null when the text is not such an amount.
 */
export function toFen(text) {
  const m = /^\s*([+-])?\s*(\d{1,13})(?:[.,](\d{1,2}))?\s*$/.exec(text ?? "");
  if (!m) return null;
  const fen = Number(m[2]) * 100 + Number((m[3] ?? "").padEnd(2, "0"));
  return m[1] === "-" ? -fen : fen;
}

const priceTableForm = document.getElementById("price-table-form");
if (priceTableForm) {
  // Another line for the same bid: a copy of the row with empty fields.
  priceTableForm.addEventListener("click", (ev) => {
    const more = ev.target.closest("button.more-line");
    if (!more) return;
    const row = more.closest("tr");
    const copy = row.cloneNode(true);
    copy.querySelectorAll("input").forEach((i) => {
      i.value = "";
      i.removeAttribute("aria-invalid");
    });
    row.after(copy);
    copy.querySelector("input.amount")?.focus();
  });
  onSubmit(priceTableForm, async () => {
    const adjustments = [];
    const rows = [];
    const problems = [];
    for (const row of priceTableForm.querySelectorAll("tr.adjustment")) {
      const amount = row.querySelector("input.amount");
      const reason = row.querySelector("input.reason");
      const what = amount.dataset.label;
      amount.removeAttribute("aria-invalid");
      reason.removeAttribute("aria-invalid");
      if (!amount.value.trim() && !reason.value.trim()) continue;
      const fen = toFen(amount.value);
      if (fen === null || fen === 0) {
        problems.push(t("evjs.bad_amount", { what }));
        amount.setAttribute("aria-invalid", "true");
      }
      if (!reason.value.trim()) {
        problems.push(t("evjs.adjustment_reason", { what }));
        reason.setAttribute("aria-invalid", "true");
      }
      adjustments.push({ bid_id: row.dataset.bid, amount_fen: fen, reason: reason.value.trim() });
      rows.push(what);
    }
    if (problems.length) throw localError(problems);
    try {
      await call("/price-table", { adjustments });
    } catch (e) {
      // The server names lines in the order sent; name the bidder instead.
      const lines = [e.message ?? String(e)];
      for (const p of e.details?.problems ?? []) {
        const where = p.line ? rows[p.line - 1] : null;
        lines.push(where ? `${where}: ${p.message}` : p.message);
      }
      throw localError(lines);
    }
    reloadWith(t("evjs.sent"));
  });
}

// ---- members: sign the report with a passkey, or dissent ------------------------------

const signBox = document.getElementById("sign-box");
if (signBox) {
  const button = document.getElementById("sign-report");
  button.addEventListener("click", async () => {
    button.disabled = true;
    errorBox(signBox).hidden = true;
    try {
      const start = await call("/report/sign/start", {});
      let credential;
      try {
        credential = await getAssertion(start.options);
      } catch (e) {
        throw localError([e?.name === "NotAllowedError" ? t("evjs.cancelled") : (e?.message ?? String(e))]);
      }
      await call("/report/sign/finish", { ceremony_id: start.ceremony_id, credential });
      reloadWith(t("evjs.signed"));
    } catch (e) {
      showError(signBox, e.lines ?? [e.message ?? String(e)]);
    } finally {
      button.disabled = false;
    }
  });
  const dissentForm = document.getElementById("dissent-form");
  dissentForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorBox(signBox).hidden = true;
    try {
      await call("/report/dissent", { reason: dissentForm.elements.reason.value });
      reloadWith(t("evjs.dissented"));
    } catch (e) {
      showError(signBox, [e.message ?? String(e)]);
    }
  });
}

// A message from before the reload.
const said = sessionStorage.getItem("evaluation-message");
if (said) {
  sessionStorage.removeItem("evaluation-message");
  const box = document.getElementById("evaluation-message");
  if (box) {
    box.textContent = said;
    box.hidden = false;
  }
}
