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
    $("login").hidden = false; $("nav").hidden = true;
    for (const id of ["desk", "gaps", "knowledge", "metrics"]) $(id).hidden = true;
  }

  async function start() {
    try { me = await api("/api/agent/me"); } catch { return; }
    $("login").hidden = true; $("nav").hidden = false; $("desk").hidden = false;
    $("me").textContent = me.name + (me.default_password ? " (default password: set RAG_AGENTS)" : "");
    await api("/api/agent/presence", { online: $("online").checked });
    stopLive();
    listen();
    update(true);  // at once, whatever the stream does
    knowledgeNews();
    timer = setInterval(() => {
      knowledgeNews();
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
    const cited = new Set((a.citations || []).map((c) => c.passage));
    const considered = (a.considered || []).filter((c) => !cited.has(c.passage));  // an answer's: the other passages it read
    const label = a.outcome === "closest" ? "Closest passages (the user saw them as such, with no claim):"
      : a.outcome === "abstain" || a.abstained ? "Closest passages, not trusted enough to answer (the user did not see them):"
      : "Other passages it read (the user did not see them):";
    return el("div", {}, head, ...passages(a.citations),
      ...(considered.length ? [el("p", { class: "hint" }, label), ...passages(considered)] : []));
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

  // The resolution rate per day or week: stacked bars (confirmed, then assumed) as a share of the ended conversations,
  // a small inline SVG (no chart library, no CDN).
  let period = "day";
  function chart(rows) {
    const NS = "http://www.w3.org/2000/svg", W = 640, H = 200, L = 34, B = 22, T = 8;
    const svg = (tag, attrs, text) => { const n = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text != null) n.textContent = text; return n; };
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", id: "resolution-svg",
      "aria-label": `automated resolution rate per ${period}` });
    const y = (share) => T + (1 - share) * (H - T - B);
    for (const share of [0, 0.5, 1]) {
      root.append(svg("line", { x1: L, x2: W, y1: y(share), y2: y(share), stroke: "#e3e6ea" }),
        svg("text", { x: L - 4, y: y(share) + 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" }, `${share * 100}%`));
    }
    const step = (W - L) / Math.max(rows.length, 1), bar = Math.max(2, Math.min(40, step * 0.7));
    rows.forEach((r, i) => {
      const x = L + i * step + (step - bar) / 2, c = r.confirmed_rate || 0, a = r.assumed_rate || 0;
      const title = `${r.start}: ${r.resolution_rate === null ? "nothing ended" : Math.round(r.resolution_rate * 100) + "%"} resolved by the bot (confirmed ${r.bot_confirmed}, assumed ${r.bot_assumed}, of ${r.decided} ended)`;
      const g = svg("g", { class: "period" });
      g.append(svg("title", {}, title),
        svg("rect", { class: "confirmed", x, width: bar, y: y(c), height: y(0) - y(c), fill: "#1e3a5f" }),
        svg("rect", { class: "assumed", x, width: bar, y: y(c + a), height: y(c) - y(c + a), fill: "#93c5fd" }));
      if (rows.length <= 16 || i % Math.ceil(rows.length / 16) === 0) g.append(svg("text", { x: x + bar / 2, y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#57606a" }, r.start.slice(5)));
      root.append(g);
    });
    const legend = el("p", { class: "legend" }, el("span", { class: "swatch confirmed" }), " confirmed ", el("span", { class: "swatch assumed" }), " assumed");
    return rows.length ? [root, legend] : [el("p", { class: "hint" }, "No conversation yet.")];
  }

  async function showResolution() {
    const data = await api(`/api/metrics/resolution?period=${period}`);
    $("resolution-chart").replaceChildren(...chart(data.rows));
    $("resolution-csv").href = `/api/metrics/resolution.csv?period=${period}`;
    $("period-day").classList.toggle("active", period === "day"); $("period-week").classList.toggle("active", period === "week");
  }
  $("period-day").onclick = () => { period = "day"; showResolution(); };
  $("period-week").onclick = () => { period = "week"; showResolution(); };

  async function showMetrics() {
    showResolution();
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
  const TABS = { queue: "desk", gaps: "gaps", knowledge: "knowledge", metrics: "metrics" };
  const SHOW = { gaps: () => showGaps(), knowledge: () => showKnowledge(), metrics: () => showMetrics() };
  for (const [tab, section] of Object.entries(TABS)) {
    $(`tab-${tab}`).onclick = () => {
      for (const [t, s2] of Object.entries(TABS)) { $(s2).hidden = t !== tab; $(`tab-${t}`).classList.toggle("active", t === tab); }
      SHOW[tab]?.();
    };
  }

  // --- content gaps: a group of missed questions, the agents' replies, saved as knowledge and as an eval case ---
  // a console list: fetched afresh, its error or its empty state in place of the cards
  async function showList(id, url, key, empty, card) {
    const list = $(id);
    let data;
    try { data = await api(url); } catch (e) { list.replaceChildren(el("p", { class: "error" }, e.message)); return; }
    list.replaceChildren(...(data[key].length ? data[key].map(card) : [el("p", { class: "hint" }, empty)]));
  }

  const showGaps = () => showList("gaps-list", "/api/agent/gaps", "gaps", "No missed question yet.", gapCard);

  const WHY = { abstained: "abstained", closest: "closest passages only", handoff: "handed off", disliked: "disliked" };

  function gapCard(g) {
    const why = Object.entries(g.why).map(([k, n]) => `${WHY[k] || k} ${n}`).join(", ");
    const others = [...new Set(g.questions.map((q) => q.text))].filter((t) => t !== g.question);
    const form = el("div", { class: "gap-form" });
    const replies = g.replies.length
      ? g.replies.map((r) => el("div", { class: "reply" }, el("b", {}, r.agent + ": "), r.text, " ",
          el("button", { class: "use-reply", onclick: () => saveForm(form, g, r) }, "Save this reply…")))
      : [el("p", { class: "hint" }, "No agent reply yet: answer it from the queue, or write the answer here. "),
         el("button", { class: "use-reply", onclick: () => saveForm(form, g, null) }, "Write an answer…")];
    return el("div", { class: "gap" },
      el("h3", {}, g.question),
      el("p", { class: "hint" }, `${g.users} user${g.users === 1 ? "" : "s"} · last ${ago(g.last)} ago · ${why}`),
      others.length ? el("ul", { class: "phrasings" }, ...others.map((t) => el("li", {}, t))) : null,
      ...replies, form);
  }

  function saveForm(form, g, r) {
    const q = el("input", { class: "gap-question", value: g.question, maxLength: 500 });
    const a = el("textarea", { class: "gap-answer", rows: 3, value: r ? r.text : "", maxLength: 4000 });
    const w = el("input", { class: "gap-words", value: (r?.words || []).join(", "), placeholder: "words the answer must contain, comma-separated" });
    const note = el("p", { class: "note", role: "status" });
    const save = (asCase) => async () => {
      note.textContent = "";
      try {
        const { entry } = await api("/api/agent/knowledge", { question: q.value, answer: a.value });
        let text = `Saved as knowledge (${entry.source}): the bot quotes it from now on.`;
        if (asCase) {
          const words = w.value.split(",").map((x) => x.trim()).filter(Boolean);
          const { case: c } = await api("/api/agent/cases", { question: g.questions[0].text, answer_contains: words, knowledge_id: entry.id,
            conversation_id: g.questions[0].conversation_id });
          text += ` Eval case desk-${c.id} saved (python eval/run.py --cases desk).`;
        }
        note.className = "note ok"; note.textContent = text;
      } catch (e) { note.className = "note error"; note.textContent = e.message; }
    };
    form.replaceChildren(el("label", {}, "Question ", q), el("label", {}, "Answer ", a), el("label", {}, "The answer must contain ", w),
      el("div", { class: "actions" }, el("button", { class: "save-knowledge", onclick: save(false) }, "Save as knowledge"),
        el("button", { class: "primary save-case", onclick: save(true) }, "Save as knowledge and eval case")), note);
  }

  // --- knowledge entries: edit, retire, and how many users each answered since it was saved ---
  const showKnowledge = () => showList("knowledge-list", "/api/agent/knowledge", "entries",
    "No entry yet: save one from the Gaps view or a conversation.", entryCard);

  function entryCard(e) {
    const q = el("input", { class: "entry-question", value: e.question, maxLength: 500, disabled: !!e.retired });
    const a = el("textarea", { class: "entry-answer", rows: 2, value: e.answer, maxLength: 4000, disabled: !!e.retired });
    const err = el("p", { class: "error", role: "alert" });
    const act = (fn) => async () => { err.textContent = ""; try { await fn(); await showKnowledge(); } catch (x) { err.textContent = x.message; } };
    const used = e.answered ? `answered ${e.answered} user${e.answered === 1 ? "" : "s"} since saved (first ${ago(e.first_answered)} ago)` : "not used yet";
    return el("div", { class: "entry" + (e.retired ? " retired" : "") },
      el("p", { class: "hint" }, `${e.source} · ${e.agent} · ${e.day} · `, el("span", { class: "used" }, e.retired ? "retired" : used)),
      q, a, e.retired ? null : el("div", { class: "actions" },
        el("button", { class: "edit-entry", onclick: act(() => api(`/api/agent/knowledge/${e.id}`, { question: q.value, answer: a.value })) }, "Save changes"),
        el("button", { class: "retire-entry", onclick: act(() => api(`/api/agent/knowledge/${e.id}/retire`, {})) }, "Retire")), err);
  }

  // Told when an entry starts answering users: the counts seen last are kept in this browser.
  async function knowledgeNews() {
    let data;
    try { data = await api("/api/agent/knowledge"); } catch { return; }
    const seen = JSON.parse(localStorage.getItem("relais-answered") || "{}");
    const fresh = data.entries.filter((e) => !e.retired && e.answered > (seen[e.id] || 0));
    for (const e of data.entries) seen[e.id] = e.answered;
    localStorage.setItem("relais-answered", JSON.stringify(seen));
    if (fresh.length) {
      $("news").hidden = false;
      $("news").textContent = fresh.map((e) => `«${e.question}» answered ${e.answered} user${e.answered === 1 ? "" : "s"} since saved.`).join(" ");
    }
  }
  fetch("/api/agent/me", { credentials: "same-origin" }).then((r) => (r.ok ? start() : showLogin()));
})();
