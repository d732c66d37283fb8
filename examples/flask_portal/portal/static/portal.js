// The portal's pages: live states without a reload (polling JSON), the confirmation modals, bulk progress.
"use strict";
(function () {
  const meta = (n) => (document.querySelector(`meta[name="${n}"]`) || {}).content || "";
  const CSRF = meta("csrf-token");
  const POLL = Math.max(200, parseInt(meta("poll-ms"), 10) || 1000);
  const STEPS = ["pending", "queued", "sent", "acknowledged", "confirmed"];
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  async function call(url, method, body, extraHeaders) {
    const headers = Object.assign({"Accept": "application/json", "X-CSRF-Token": CSRF}, extraHeaders || {});
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                               credentials: "same-origin"});
    } catch (e) {
      return {status: 0, data: {success: false, message: "The portal cannot be reached: " + e.message}};
    }
    if (resp.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); }
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {success: false, message: `HTTP ${resp.status}`}; }
    return {status: resp.status, data};
  }

  function every(ms, fn) {  // fn returns false to stop
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      let again = true;
      try { again = (await fn()) !== false; } catch (e) { console.error(e); }
      if (again) setTimeout(tick, ms);
    };
    setTimeout(tick, ms);
    return () => { stopped = true; };
  }

  function setClock(text) { const c = $("#clock"); if (c && text) c.textContent = text; }

  function setBadge(el, m) {
    if (!el) return;
    el.className = el.className.replace(/relay-\S+/, "relay-" + m.relay_state);
    el.textContent = m.relay_label;
    el.title = m.relay_hint || "";
  }

  // --- select all -----------------------------------------------------------------------------
  const all = $("#select-all");
  if (all) all.addEventListener("change", () => $$("input.pick:not(:disabled)").forEach((b) => { b.checked = all.checked; }));

  // --- meters list ------------------------------------------------------------------------------
  if (document.body.dataset.page === "meters") {
    every(POLL, async () => {
      const {status, data} = await call("/api/portal/meters", "GET");
      if (status !== 200) return true;
      setClock(data.clock);
      for (const m of data.meters) {
        const row = $(`tr[data-meter="${m.id}"]`);
        if (!row) continue;
        setBadge($('[data-field="relay"]', row), m);
        const up = $('[data-field="uplink"]', row);
        up.textContent = m.last_uplink_ago; up.title = m.last_uplink;
        const oc = $('[data-field="open"]', row);
        oc.textContent = "";
        if (m.open_command) {
          const s = document.createElement("span");
          s.className = "state state-" + m.open_command.state;
          s.textContent = `#${m.open_command.id} ${m.open_command.kind} ${m.open_command.state}`;
          oc.appendChild(s);
        }
      }
      return true;
    });
  }

  // --- cancel buttons (meter history, schedules) --------------------------------------------------
  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.cancel-command");
    if (!b) return;
    ev.preventDefault();
    if (!window.confirm(`Cancel command #${b.dataset.command}?`)) return;
    const {data} = await call(b.dataset.cancelUrl, "POST", {reason: "cancelled in the portal"});
    window.alert(data.message);
    location.reload();
  });

  // --- meter page -------------------------------------------------------------------------------
  const page = $("#meter-page");
  if (page) {
    const evidence = JSON.parse(page.dataset.evidence || "{}");
    let tracking = null;
    let stopTracking = null;
    const progress = $("#progress");

    const showCommand = (c) => {
      progress.hidden = false;
      $("#progress-id").textContent = `#${c.id} (${c.kind === "relay_off" ? "disconnect" : c.kind === "relay_on" ? "reconnect" : c.kind})`;
      const at = STEPS.indexOf(c.state);
      const failed = at < 0;
      $$("#steps li").forEach((li, i) => {
        li.classList.toggle("done", !failed && i <= at);
        li.classList.toggle("current", !failed && i === at);
      });
      const st = $("#progress-state");
      st.textContent = c.state;
      st.className = "state state-" + c.state;
      st.dataset.state = c.state;
      let detail = evidence[c.evidence] || c.evidence || c.error || "";
      if (c.not_before && c.state === "pending") detail = `deferred until ${c.not_before}` + (c.note ? `: ${c.note}` : "");
      else if (c.state === "queued") detail = "waiting in ChirpStack's queue for the device's next uplink";
      else if (c.state === "sent") detail = "sent to the device; waiting for the meter's answer";
      $("#progress-detail").textContent = detail;
    };

    const refreshHistory = async () => {
      const open = $$("#history details[open]").map((d) => d.closest("tr").previousElementSibling.dataset.command);
      const resp = await fetch(page.dataset.historyUrl, {credentials: "same-origin"});
      if (!resp.ok) return;
      $("#history").innerHTML = await resp.text();
      open.forEach((id) => {
        const row = $(`#history tr.command[data-command="${id}"]`);
        if (row) row.nextElementSibling.querySelector("details").open = true;
      });
    };

    const refreshMeter = async () => {
      const {status, data} = await call(page.dataset.stateUrl, "GET");
      if (status !== 200) return;
      setClock(data.clock);
      setBadge($("#relay-state"), data.meter);
      const up = $("#last-uplink"); up.textContent = data.meter.last_uplink_ago; up.title = data.meter.last_uplink;
      const note = $("#meter-note"); note.textContent = data.meter.note; note.hidden = !data.meter.note;
    };

    const track = (id) => {
      if (stopTracking) stopTracking();
      tracking = id;
      let lastState = null;
      const url = page.dataset.commandUrl.replace(/\/0$/, "/" + id);
      const step = async () => {
        const {status, data} = await call(url, "GET");
        if (status !== 200) return true;
        const c = data.command;
        const d = {id: c.id, kind: c.kind, state: c.state, evidence: c.evidence, error: c.error, note: c.note,
                   not_before: c.notBefore || c.not_before};
        showCommand(d);
        if (c.state !== lastState) { lastState = c.state; await refreshHistory(); }
        await refreshMeter();
        return !["confirmed", "failed", "expired", "cancelled", "superseded"].includes(c.state);
      };
      step();
      stopTracking = every(POLL, step);
    };

    // A command already in flight when the page opened is followed at once.
    const firstOpen = $('#history tr.command[data-terminal="no"]');
    if (firstOpen) track(firstOpen.dataset.command);
    every(POLL * 3, async () => { if (!tracking) await refreshMeter(); return true; });

    $$("[data-open-modal]").forEach((b) => b.addEventListener("click", () => {
      const dlg = document.getElementById(b.dataset.openModal);
      const form = $("form", dlg);
      form.reset();
      form.dataset.key = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now() + Math.random());
      $("[data-error]", dlg).hidden = true;
      dlg.showModal();
    }));
    $$("dialog.modal").forEach((dlg) => {
      $("[data-close]", dlg).addEventListener("click", (e) => { e.preventDefault(); dlg.close(); });
      const form = $("form", dlg);
      form.elements.reason.addEventListener("input", () => { $("[data-error]", dlg).hidden = true; });
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const action = form.dataset.relayAction;
        const reason = form.elements.reason.value.trim();
        const err = $("[data-error]", dlg);
        if (action === "off" && !reason) {
          err.textContent = "Say why: the reason is kept in the audit trail."; err.hidden = false; return;
        }
        const buttons = $$("button", form);
        buttons.forEach((x) => { x.disabled = true; });
        // One key per opening of the modal: a double click or a retried request makes one command.
        const {status, data} = await call(page.dataset.relayUrl, "POST", {action, reason}, {"Idempotency-Key": "ui-" + form.dataset.key});
        buttons.forEach((x) => { x.disabled = false; });
        if (status === 200) {
          dlg.close();
          track(data.command_id);
        } else {
          err.textContent = data.message || `HTTP ${status}`;
          err.hidden = false;
          if (data.command_id) await refreshHistory();
        }
      });
    });
  }

  // --- bulk run -------------------------------------------------------------------------------
  const bulk = $("#bulk-page");
  if (bulk) {
    const paint = (run) => {
      const bar = $("#bulk-bar");
      bar.style.width = run.percent + "%";
      bar.dataset.percent = run.percent;
      bar.classList.toggle("finished", run.finished);
      for (const h of ["good", "mixed", "bad"]) bar.classList.toggle("health-" + h, run.health === h);
      bar.parentElement.setAttribute("aria-valuenow", run.percent);
      const counts = Object.entries(run.counts).map(([k, v]) => `${v} ${k}`).join(", ");
      $("#bulk-summary").textContent = `${run.done} of ${run.total} meters have a final outcome (${run.percent}%)` +
        (counts ? ` — ${counts}` : "") + (run.not_done ? `; ${run.not_done} not switched (refused or failed)` : "") +
        (run.finished ? ". Finished." : "");
      for (const it of run.items) {
        const row = $(`tr[data-eui="${it.device_eui}"]`);
        if (!row) continue;
        const o = $('[data-field="outcome"]', row);
        o.textContent = it.outcome; o.className = "state state-" + it.outcome;
        $('[data-field="detail"]', row).textContent = it.detail || "";
      }
    };
    // The server drew the summary and the rows; only the bar's width needs a script (no inline styles).
    $("#bulk-bar").style.width = $("#bulk-bar").dataset.percent + "%";
    const first = async () => {
      const {status, data} = await call(bulk.dataset.url, "GET");
      if (status !== 200) return true;
      paint(data.run);
      return !data.run.finished;
    };
    first().then((again) => { if (again) every(POLL, first); });
  }
})();
