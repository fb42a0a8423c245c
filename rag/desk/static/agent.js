// Relais agent console: plain JavaScript over /api/agent/*. Every text goes through textContent, never innerHTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const GAP_MS = 500;  // at most two refreshes a second, however many `changed` events come
  const SLOW_MS = 10_000;  // the heartbeat, and the fallback poll while the event stream is down
  let selected = null, me = null, reasons = {}, events = null, timer = null;

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node[k] = v;
    }
    for (const c of children) if (c != null) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  async function api(path, body) {
    const opts = body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
    const r = await fetch(path, { credentials: "same-origin", ...opts });
    const data = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (r.status === 401 && path !== "/api/agent/login") { showLogin(); throw new Error(data.error); }
    if (!r.ok) throw Object.assign(new Error(data.error || `HTTP ${r.status}`), { status: r.status });
    return data;
  }

  function showLogin() {
    stopLive();
    $("login").hidden = false; $("desk").hidden = true; $("metrics").hidden = true; $("nav").hidden = true;
  }

  async function start() {
    try { me = await api("/api/agent/me"); } catch { return; }
    $("login").hidden = true; $("nav").hidden = false; $("desk").hidden = false;
    $("me").textContent = me.name + (me.default_password ? " (default password: set RAG_AGENTS)" : "");
    await api("/api/agent/presence", { online: $("online").checked });
    stopLive();
    listen();
    update(true);  // at once, whatever the stream does
    timer = setInterval(() => {
      if (Date.now() - lastRefresh >= SLOW_MS) update();
      if (events?.readyState === EventSource.CLOSED) listen();  // the browser gave up on it (e.g. the server was down)
    }, SLOW_MS);
  }

  // Push, not poll: the server sends `changed` on /api/agent/events whenever the queue or any conversation changes (and
  // once on connect); each asks for a refresh. The browser reconnects a dropped stream by itself. Presence: the server
  // counts an agent online while their console read the queue in the last 30 s, so with no change for 10 s the console
  // reads it anyway (the heartbeat, as when it polled); the same timer is the slow fallback poll while the stream is down.
  function listen() {
    events?.close();
    const es = events = new EventSource("/api/agent/events");  // same origin: the session cookie goes with it
    es.addEventListener("changed", () => update());
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) update(); };  // refused: a 401 shows the sign-in form
  }
  function stopLive() { events?.close(); events = null; clearInterval(timer); timer = null; }

  // Refreshes run one at a time, at most one every GAP_MS; events during a refresh (or the wait before it) make one more.
  let running = false, again = false, hurry = false, lastRefresh = 0;
  async function update(now = false) {  // now: the agent clicked, no waiting
    again = true; hurry ||= now;
    if (running) return;
    running = true;
    try {
      while (again) {
        const wait = hurry ? 0 : lastRefresh + GAP_MS - Date.now();
        if (wait > 0) await new Promise((done) => setTimeout(done, wait));
        again = hurry = false; lastRefresh = Date.now();
        await refresh();
      }
    } finally { running = false; }
  }

  const ago = (t) => { const s = Math.max(0, Math.round(Date.now() / 1000 - t)); return s < 90 ? `${s} s` : `${Math.round(s / 60)} min`; };

  async function refresh() {
    let data;
    try { data = await api("/api/agent/queue"); } catch { return; }
    reasons = data.reasons;
    $("online-count").textContent = `(${data.agents_online} agent${data.agents_online === 1 ? "" : "s"} online)`;
    const queue = $("queue"); queue.replaceChildren();
    if (!data.queue.length) queue.append(el("li", { class: "hint" }, "Nobody is waiting."));
    for (const c of data.queue) {
      queue.append(el("li", { class: c.id === selected ? "selected" : "", onclick: () => { selected = c.id; update(true); } },
        el("span", { class: "badge" + (c.state === "human" ? " human" : "") }, c.state === "waiting" ? "waiting" : "with you"), " ",
        reasons[c.reason] || c.reason || "", " · ", ago(c.requested),
        el("div", { class: "preview" }, c.last_user_message)));
    }
    const tickets = $("tickets"); tickets.replaceChildren();
    if (!data.tickets.length) tickets.append(el("li", { class: "hint" }, "No tickets."));
    for (const t of data.tickets) tickets.append(el("li", {}, el("b", {}, t.contact), el("div", { class: "preview" }, t.message)));
    if (selected) await showPacket(selected);
  }

  let lastRendered = "";
  async function showPacket(cid) {
    let p;
    try { p = await api(`/api/agent/conversations/${encodeURIComponent(cid)}`); } catch (e) { $("packet").replaceChildren(el("p", { class: "error" }, e.message)); return; }
    const key = JSON.stringify([p.status, p.messages.length]);
    if (key === lastRendered) return;  // keep what the agent is typing
    lastRendered = key;
    const s = p.status, mine = s.state === "human" && s.agent === me.name;
    const lastUser = [...p.messages].reverse().find((m) => m.role === "user");
    const draft = { reply: $("reply")?.value || "", question: $("kb-question")?.value ?? (lastUser ? lastUser.text : ""),
      answer: $("kb-answer")?.value || "" };
    const focused = document.activeElement?.id, caret = document.activeElement?.selectionStart;
    const box = $("packet");
    box.replaceChildren(
      el("h2", {}, `Conversation · ${s.state}${s.agent ? " (" + s.agent + ")" : ""}`),
      el("p", {}, el("b", {}, "Reason: "), reasons[s.reason] || s.reason || "—"),
      el("h3", {}, "Transcript"),
      el("div", { class: "transcript", id: "transcript" }, ...p.messages.map((m) =>
        el("div", { class: "msg " + m.role }, el("b", {}, m.role === "agent" ? m.author : m.role), m.text))),
      el("h3", {}, "What the bot saw (its last answers)"),
      el("div", { class: "evidence" }, ...(p.bot_answers.length ? p.bot_answers.map(evidence) : [el("p", { class: "hint" }, "No bot answer yet.")])),
      actions(cid, s, mine, draft),
    );
    const t = $("transcript"); t.scrollTop = t.scrollHeight;
    const back = focused && box.querySelector(`#${focused}`);  // a new message must not take the agent's cursor away
    if (back) { back.focus(); if (caret != null && back.setSelectionRange) back.setSelectionRange(caret, caret); }
  }

  function evidence(m) {
    const a = m.answer;
    const head = el("p", {}, el("b", {}, `confidence ${a.confidence.toFixed(2)}`), ` · ${a.outcome || (a.abstained ? "abstain" : "answer")}`, a.handoff ? ` · handoff: ${a.handoff}` : "", " — ", m.text);
    const considered = a.considered || [];
    return el("div", {}, head, ...passages(a.citations),
      ...(considered.length ? [el("p", { class: "hint" }, a.outcome === "closest" ? "Closest passages (the user saw them as such, with no claim):" : "Closest passages, not trusted enough to answer (the user did not see them):"),
                               ...passages(considered)] : []));
  }

  const passages = (citations) => relaisCards(citations, el);  // shared.js

  function actions(cid, s, mine, draft) {
    const wrap = el("div", {});
    const err = el("p", { class: "error", role: "alert" });
    const act = (fn) => async () => { err.textContent = ""; try { await fn(); lastRendered = ""; await update(true); } catch (e) { err.textContent = e.message; } };
    if (s.state === "waiting") wrap.append(el("div", { class: "actions" }, el("button", { class: "primary", id: "claim", onclick: act(() => api(`/api/agent/conversations/${cid}/claim`, {})) }, "Claim")));
    if (mine) {
      const reply = el("textarea", { id: "reply", rows: 3, placeholder: "Your reply to the user", value: draft.reply, maxLength: 4000 });
      const send = act(async () => { await api(`/api/agent/conversations/${cid}/reply`, { text: reply.value }); reply.value = ""; });
      reply.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
      const q = el("input", { id: "kb-question", placeholder: "Question" }), ans = el("textarea", { id: "kb-answer", rows: 2, placeholder: "Answer" });
      wrap.append(reply, el("div", { class: "actions" },
        el("button", { class: "primary", id: "send", onclick: send }, "Send"),
        el("button", { id: "close", onclick: act(() => api(`/api/agent/conversations/${cid}/close`, {})) }, "Close (hand back to the bot)")),
        el("details", { class: "kb" }, el("summary", {}, "Save an answer to the knowledge base"), q, ans,
          el("button", { id: "kb-save", onclick: act(async () => { const r = await api("/api/agent/knowledge", { question: q.value, answer: ans.value }); err.textContent = `Saved as ${r.path}: the bot will cite it.`; }) }, "Save")));
      q.value = draft.question;
      ans.value = draft.answer;
    }
    wrap.append(err);
    return wrap;
  }

  async function showMetrics() {
    const m = await api("/api/metrics");
    const fmt = (v) => v === null ? "—" : typeof v === "object" ? Object.entries(v).map(([k, n]) => `${k}: ${n}`).join(", ") || "—" : String(v);
    $("metrics-table").replaceChildren(...Object.entries(m).map(([k, v]) => el("tr", {}, el("th", {}, k.replaceAll("_", " ")), el("td", {}, fmt(v)))));
  }

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault(); $("login-error").textContent = "";
    try { await api("/api/agent/login", { name: $("login-name").value, password: $("login-password").value }); start(); }
    catch (err) { $("login-error").textContent = err.message; }
  });
  $("logout").onclick = async () => { await api("/api/agent/logout", {}); showLogin(); };
  $("online").onchange = () => api("/api/agent/presence", { online: $("online").checked });
  $("tab-queue").onclick = () => { $("desk").hidden = false; $("metrics").hidden = true; $("tab-queue").classList.add("active"); $("tab-metrics").classList.remove("active"); };
  $("tab-metrics").onclick = () => { $("desk").hidden = true; $("metrics").hidden = false; $("tab-metrics").classList.add("active"); $("tab-queue").classList.remove("active"); showMetrics(); };
  fetch("/api/agent/me", { credentials: "same-origin" }).then((r) => (r.ok ? start() : showLogin()));
})();
