/* Relais client code written once for the console (agent.js, loaded beside it as /agent/shared.js), the widget
   (widget.js: the server inlines this file where it says so, so host pages still include one script) and the chat
   page (app.py inlines it into its push script). Plain functions; each page passes its own `el` and its own state. */

// One card per passage [n], every sentence the answer took from it highlighted. `el(tag, props, ...children)` builds
// an element; `props` are the card's own.
function relaisCards(citations, el, props = {}) {
  const byN = new Map();
  for (const c of citations || []) byN.set(c.n, [...(byN.get(c.n) || []), c]);
  return [...byN.values()].map((cs) => {
    const c = cs[0], p = el("p", {});
    let pos = 0;
    for (const [a, b] of cs.map((x) => x.span).sort((x, y) => x[0] - y[0])) {
      p.append(c.passage.slice(pos, a), el("mark", {}, c.passage.slice(a, b)));
      pos = Math.max(pos, b);
    }
    p.append(c.passage.slice(pos));
    return el("details", props, el("summary", {}, `[${c.n}] ${c.section || c.title} · ${c.source}${c.date ? " · " + c.date : ""}`), p);
  });
}

// Push, then poll: listen to a conversation's server-sent events at `url` (`status` first, then each `message`); the
// browser reconnects a dropped stream by itself. Polling (`on.poll` every `on.pollMs`) is only the fallback: no
// EventSource, or 3 failed streams in a row (an error, or no first event within 5 s: a proxy that buffers it); after
// a failure `on.again()` is called in 2 s to decide afresh. `state` ({source, timer, failures}) outlives each call.
function relaisListen(state, url, on) {
  if (!window.EventSource || state.failures >= 3) { state.timer = setInterval(on.poll, on.pollMs); return null; }
  const es = state.source = new EventSource(url);
  const retry = () => {
    if (state.source !== es) return;
    es.close(); state.source = null; clearTimeout(state.timer); state.timer = setTimeout(on.again, 2000);
  };
  state.timer = setTimeout(() => { state.failures++; retry(); }, 5000);  // the server sends the status first thing
  es.addEventListener("status", (e) => { state.failures = 0; clearTimeout(state.timer); on.status(JSON.parse(e.data)); });
  es.addEventListener("message", (e) => on.message(JSON.parse(e.data)));
  es.onerror = () => { on.error?.(); if (es.readyState === EventSource.CLOSED || ++state.failures >= 3) retry(); };  // else it reconnects
  return es;
}
