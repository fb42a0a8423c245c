/* Relais chat widget: <script src="https://YOUR-RELAIS/widget.js" data-lang="fr" async></script>
   Plain JavaScript, no build step, no CDN; styles isolated in a shadow root; every text set with textContent. */
(() => {
  "use strict";
  /* @shared: the server puts static/shared.js here (relaisCards, relaisListen) */
  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  const BASE = new URL(script.src).origin;
  const LANG = (script.dataset.lang || navigator.language || "fr").toLowerCase().startsWith("fr") ? "fr" : "en";
  const KEY = "relais-conversation:" + BASE;
  const T = {
    fr: { open: "Une question ?", title: "Assistant Relais", placeholder: "Votre question…", send: "Envoyer", human: "🙋 Parler à un humain",
      cancel: "Annuler", you: "Vous", bot: "Relais", waiting: "En attente d'un conseiller : position {p}, environ {m} min.",
      nobody: "Aucun conseiller en ligne : laissez un message et un contact.", contact: "E-mail ou téléphone", message: "Votre message",
      leave: "Laisser un message", withHuman: "Vous échangez avec {a}.", offer: "Un conseiller vous est proposé : {r}.", error: "Erreur : ",
      close: "Fermer", closest: "Passages les plus proches : pas une réponse, à vérifier ou à demander à un conseiller", up: "Réponse utile", down: "Réponse pas utile", thanks: "Merci !",
      resolved: "Cela répond-il à votre question ?", yes: "Oui", no: "Non", why: "Pourquoi ?",
      why_reasons: { wrong: "Fausse", incomplete: "Incomplète", not_my_question: "Pas ma question" },
      reasons: { requested: "à votre demande", sensitive: "message sensible", low_confidence: "pas de réponse sûre", closest_passages: "seulement des passages proches",
        repeated_abstention: "pas de réponse deux fois de suite", negative_feedback: "réponse jugée pas utile" } },
    en: { open: "Questions?", title: "Relais assistant", placeholder: "Your question…", send: "Send", human: "🙋 Talk to a human",
      cancel: "Cancel", you: "You", bot: "Relais", waiting: "Waiting for a person: position {p}, about {m} min.",
      nobody: "No one is online: leave a message and a contact.", contact: "E-mail or phone", message: "Your message",
      leave: "Leave a message", withHuman: "You are talking with {a}.", offer: "A person is offered: {r}.", error: "Error: ",
      close: "Close", closest: "Closest passages: not an answer, check them or ask a person", up: "Helpful", down: "Not helpful", thanks: "Thanks!",
      resolved: "Did this answer your question?", yes: "Yes", no: "No", why: "Why?",
      why_reasons: { wrong: "Wrong", incomplete: "Incomplete", not_my_question: "Not my question" },
      reasons: { requested: "on request", sensitive: "sensitive message", low_confidence: "no reliable answer", closest_passages: "only nearby passages",
        repeated_abstention: "no answer twice in a row", negative_feedback: "answer not helpful" } },
  }[LANG];
  const fill = (s, v) => s.replace(/\{(\w)\}/g, (_, k) => v[k]);

  const CSS = `
  :host { all: initial; }
  * { box-sizing: border-box; font: 14px/1.4 system-ui, sans-serif; }
  .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 24px; padding: 12px 18px;
    background: #1e3a5f; color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
  .panel { position: fixed; right: 20px; bottom: 76px; z-index: 2147483000; width: min(380px, calc(100vw - 40px)); height: min(560px, calc(100vh - 100px));
    display: flex; flex-direction: column; background: #fff; color: #1f2328; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); overflow: hidden; }
  .panel[hidden] { display: none; }
  header { display: flex; justify-content: space-between; align-items: center; padding: 10px 12px; background: #1e3a5f; color: #fff; font-weight: 600; }
  header button { background: none; border: 0; color: #fff; font-size: 18px; cursor: pointer; }
  .log { flex: 1; overflow-y: auto; padding: 10px; background: #f6f7f9; }
  .msg { margin: 6px 0; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere; max-width: 92%; }
  .user { background: #dbeafe; margin-left: auto; } .bot { background: #fff; border: 1px solid #e3e6ea; }
  .agent { background: #dcfce7; } .system { background: none; color: #6b7280; font-style: italic; font-size: 13px; padding: 2px 4px; }
  .who { display: block; font-size: 12px; font-weight: 600; color: #57606a; }
  details { margin-top: 6px; border: 1px solid #e3e6ea; border-radius: 8px; padding: 4px 8px; background: #fafafa; }
  summary { cursor: pointer; font-size: 13px; } details p { font-size: 13px; margin: 6px 0 2px; }
  mark { background: #fef08a; }
  p.closest { margin: 6px 0 0; font-size: 12px; color: #92400e; } details.closest { border-style: dashed; background: #fffbeb; }
  .votes button { border: 0; background: none; cursor: pointer; font-size: 15px; opacity: .6; } .votes button:hover, .votes .on { opacity: 1; }
  .votes { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; font-size: 12px; color: #57606a; }
  .votes .ask button, .votes .why button { font-size: 12px; border: 1px solid #c8ccd2; border-radius: 10px; padding: 1px 8px; opacity: 1; }
  .votes .ask .on, .votes .why .on { background: #dbeafe; }
  .status { padding: 6px 10px; font-size: 13px; background: #fff7ed; border-top: 1px solid #fde68a; }
  .status[hidden], form[hidden] { display: none; }
  .status button { margin-left: 6px; }
  form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e3e6ea; }
  form.ticket { flex-direction: column; }
  input, textarea { flex: 1; padding: 7px; border: 1px solid #c8ccd2; border-radius: 8px; }
  button.main, .bar button { padding: 7px 10px; border-radius: 8px; border: 1px solid #1e3a5f; background: #1e3a5f; color: #fff; cursor: pointer; }
  .bar { padding: 0 8px 8px; } .bar button { width: 100%; background: #fff; color: #1e3a5f; }`;

  const host = document.createElement("div");
  host.id = "relais-widget";
  const root = host.attachShadow({ mode: "open" });
  const el = (tag, props = {}, ...kids) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) if (k.startsWith("on")) n.addEventListener(k.slice(2), v); else if (k === "class") n.className = v; else n[k] = v;
    for (const c of kids) if (c != null) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  };
  const style = el("style"); style.textContent = CSS;
  const log = el("div", { class: "log", role: "log", ariaLive: "polite" });
  const input = el("input", { class: "question", placeholder: T.placeholder, maxLength: 4000, ariaLabel: T.placeholder });
  const form = el("form", { class: "ask" }, input, el("button", { class: "main", type: "submit" }, T.send));
  const status = el("div", { class: "status", hidden: true });
  const contact = el("input", { placeholder: T.contact, maxLength: 200 }), note = el("textarea", { placeholder: T.message, rows: 2, maxLength: 4000 });
  const ticket = el("form", { class: "ticket", hidden: true }, contact, note, el("button", { class: "main", type: "submit" }, T.leave));
  const humanBtn = el("button", { type: "button", onclick: () => call(`/api/conversations/${cid}/handoff`, {}).then(sync).catch(fail) }, T.human);
  const panel = el("div", { class: "panel", hidden: true, role: "dialog", ariaLabel: T.title },
    el("header", {}, T.title, el("button", { ariaLabel: T.close, onclick: () => toggle(false) }, "×")),
    log, status, ticket, form, el("div", { class: "bar" }, humanBtn));
  const launcher = el("button", { class: "launcher", onclick: () => toggle(panel.hidden) }, "💬 " + T.open);
  root.append(style, panel, launcher);

  let cid = localStorage.getItem(KEY), last = 0, busy = false, pending = [];  // messages held while asking
  const stream = { source: null, timer: null, failures: 0 };  // the event stream (or the polling timer), its failures in a row
  const shown = new Set();

  async function call(path, body) {
    const r = await fetch(BASE + path, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
    return data;
  }
  async function ensure() {
    if (cid) return cid;
    cid = (await call("/api/conversations", { lang: LANG })).conversation_id;
    localStorage.setItem(KEY, cid);
    listen();  // a new conversation: a new stream
    return cid;
  }
  function forget() { localStorage.removeItem(KEY); cid = null; last = 0; shown.clear(); }  // the server no longer knows it
  function toggle(open) {
    panel.hidden = !open;
    quiet();
    if (open) { ensure().then(poll).then(listen).catch(fail); input.focus(); }
  }

  // Push, not poll: while the panel is open, an EventSource on the conversation's events brings each new message
  // (`message`, its id as the event id) and each status change (`status`); the browser reconnects a dropped stream by
  // itself and resumes after the last event it got (Last-Event-ID). Polling every 1.5 s is only the fallback: when this
  // browser has no EventSource, or when the stream failed 3 times in a row (an error, or no first event within 5 s: a
  // proxy that buffers it); it then lasts as long as the page.
  function quiet() { stream.source?.close(); stream.source = null; clearTimeout(stream.timer); stream.timer = null; }  // and a setInterval
  function listen() {
    if (stream.source?.cid === cid && !panel.hidden) return;  // already listening to this conversation
    quiet();
    pending = [];
    if (panel.hidden || !cid) return;
    const es = relaisListen(stream, `${BASE}/api/conversations/${encodeURIComponent(cid)}/events?after=${last}`, {
      poll, pollMs: 1500, again: listen, status: showStatus,  // listen() decides afresh: push or poll
      message: (m) => { if (busy) pending.push(m); else render([m]); },
    });
    if (es) es.cid = cid;
  }
  function sync() { if (!stream.source) return poll(); }  // after an action: the stream brings its effects, else read them
  const fail = (e) => { log.append(el("div", { class: "msg system" }, T.error + e.message)); log.scrollTop = log.scrollHeight; };

  const cards = (answer) => answer.outcome === "closest"  // no claim: the closest passages, labelled as such
    ? [el("p", { class: "closest" }, T.closest), ...relaisCards(answer.considered, el, { class: "card closest" })]
    : relaisCards(answer.citations, el, { class: "card" });
  function votes(m) {
    const box = el("div", { class: "votes" });
    const why = el("span", { class: "why", hidden: true }, T.why + " ");
    const pick = (group, target) => { group.querySelectorAll(":scope > button").forEach((b) => b.classList.remove("on")); target.classList.add("on"); };
    const vote = (value, reason) => call(`/api/conversations/${cid}/feedback`, { message_id: m.id, value, ...(reason ? { reason } : {}) });
    for (const [value, icon, label] of [["up", "👍", T.up], ["down", "👎", T.down]]) {
      box.append(el("button", { type: "button", class: "vote-" + value, title: label, ariaLabel: label, onclick: async (e) => {
        const b = e.currentTarget;  // read before any await: once dispatched, an event from a shadow root has no target
        try { await vote(value); pick(box, b); b.title = T.thanks; why.hidden = value !== "down"; } catch (err) { fail(err); }
      } }, icon));
    }
    for (const [reason, label] of Object.entries(T.why_reasons)) {  // a thumbs down asks why
      why.append(el("button", { type: "button", class: "why-" + reason, onclick: async (e) => {
        const b = e.currentTarget;
        try { await vote("down", reason); pick(why, b); } catch (err) { fail(err); }
      } }, label));
    }
    box.append(why);
    if (m.answer.outcome === "answer" || m.answer.outcome === undefined && !m.answer.abstained) {  // a real answer: did it resolve it?
      const ask = el("span", { class: "ask" }, T.resolved + " ");
      for (const [value, label] of [["yes", T.yes], ["no", T.no]]) {
        ask.append(el("button", { type: "button", class: "resolved-" + value, onclick: async (e) => {
          const b = e.currentTarget;
          try { await call(`/api/conversations/${cid}/resolved`, { message_id: m.id, value }); pick(ask, b); } catch (err) { fail(err); }
        } }, label));
      }
      box.append(ask);
    }
    return box;
  }
  function bubble(m) {
    const who = { user: T.you, bot: T.bot, agent: m.author, system: null }[m.role];
    const node = el("div", { class: "msg " + m.role }, who ? el("span", { class: "who" }, who) : null, m.text);
    if (m.role === "bot" && m.answer) node.append(...cards(m.answer), votes(m));
    return node;
  }
  function render(messages) {
    for (const m of messages) {
      last = Math.max(last, m.id);
      if (shown.has(m.id)) continue;
      shown.add(m.id);
      log.append(bubble(m));
    }
    log.scrollTop = log.scrollHeight;
  }
  function showStatus(s) {
    status.replaceChildren(); ticket.hidden = true;
    const reason = T.reasons[s.reason || s.offer] || "";
    if (s.state === "waiting") {
      status.append(fill(T.waiting, { p: s.position || 1, m: Math.max(1, Math.round((s.wait_s || 0) / 60)) }),
        el("button", { type: "button", onclick: () => call(`/api/conversations/${cid}/cancel`, {}).then(sync).catch(fail) }, T.cancel));
      if (!s.agents_online) { status.append(el("div", {}, T.nobody)); ticket.hidden = false; }
    } else if (s.state === "human") status.append(fill(T.withHuman, { a: s.agent }));
    else if (s.offer) status.append(fill(T.offer, { r: reason }));
    status.hidden = !status.childNodes.length;
    humanBtn.hidden = s.state !== "bot";
  }
  async function poll() {
    if (!cid || busy) return;
    try {
      const data = await call(`/api/conversations/${cid}/messages?after=${last}`);
      render(data.messages); showStatus(data.status);
    } catch (e) {
      if (/unknown conversation/.test(e.message)) { forget(); await ensure(); } else fail(e);
    }
  }

  async function ask(question) {
    busy = true;
    const mine = el("div", { class: "msg user" }, el("span", { class: "who" }, T.you), question);
    const reply = el("div", { class: "msg bot" }, el("span", { class: "who" }, T.bot));
    log.append(mine, reply); log.scrollTop = log.scrollHeight;
    try {
      await ensure();
      const key = self.crypto?.randomUUID?.() || `${Date.now()}-${Math.random().toString(36).slice(2)}`;  // idempotency key
      const send = () => fetch(BASE + "/api/chat/stream", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ question, conversation_id: cid, lang: LANG, client_message_id: key }) });
      let r = await send().catch(send);  // a lost response is retried once; the key keeps it from being stored twice
      if (r.status === 404) { forget(); await ensure(); r = await send(); }  // server data was reset
      if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || `HTTP ${r.status}`);
      const reader = r.body.getReader(), dec = new TextDecoder();
      let buf = "", transient = false;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(chunk)?.[1], data = JSON.parse(/^data: (.*)$/m.exec(chunk)?.[1] || "{}");
          if (event === "token") { reply.append(data.text); log.scrollTop = log.scrollHeight; }
          if (event === "error") throw new Error(data.error);
          if (event === "answer" && data.answer && !data.message_id) {  // e.g. an empty question: the bot's prompt, not stored
            transient = true; reply.replaceChildren(el("span", { class: "who" }, T.bot), data.answer.text);
          }
        }
      }
      mine.remove();
      if (!transient) reply.remove();  // the stored messages come back as events (or from poll()), with ids, cards and votes
    } catch (e) { mine.remove(); reply.remove(); fail(e); input.value = question; }
    finally { busy = false; render(pending.splice(0)); await sync(); }  // render() skips any id already shown
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); const q = input.value.trim(); if (!q) return; input.value = ""; ask(q); });
  ticket.addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await call(`/api/conversations/${cid}/ticket`, { contact: contact.value, message: note.value }); note.value = ""; sync(); } catch (err) { fail(err); }
  });
  (document.body || document.documentElement).append(host);
})();
