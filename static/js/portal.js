// The portal's only script besides htmx: the live stream, SLA countdowns, keyboard shortcuts.
// Pages stay usable without it; it makes them live.
(function () {
  "use strict";

  // --- Live stream ---------------------------------------------------------------------------
  // Messages say what changed (CONTRACT.md); the page re-fetches the parts that show it. An
  // element opts in with data-live="incident.* alert.created" (event types, `*` as a suffix),
  // optionally data-live-tenant / data-live-id to narrow it, and hx-trigger="live" with the
  // hx-get that re-renders it. The server checks permissions on that fetch like on any other.
  var LAST_EVENT = "portal.lastEventId";
  var pending = new Map();

  function matches(el, msg) {
    var types = (el.getAttribute("data-live") || "").split(/\s+/).filter(Boolean);
    var ok = types.some(function (t) {
      return t === msg.type || (t.endsWith("*") && msg.type.indexOf(t.slice(0, -1)) === 0);
    });
    if (!ok) return false;
    var tenant = el.getAttribute("data-live-tenant");
    if (tenant && msg.tenant !== tenant) return false;
    var id = el.getAttribute("data-live-id");
    if (id && msg.id !== id && !(msg.data && msg.data.incident === id)) return false;
    return true;
  }

  function refresh(el) {
    // Several events in a burst give one fetch per element.
    if (pending.has(el)) return;
    pending.set(el, setTimeout(function () {
      pending.delete(el);
      if (document.body.contains(el) && window.htmx) window.htmx.trigger(el, "live");
    }, 250));
  }

  function dispatch(msg) {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      if (msg.type === "reload" || matches(el, msg)) refresh(el);
    });
    document.body.dispatchEvent(new CustomEvent("portal:event", { detail: msg }));
  }

  function setStatus(online, text) {
    var el = document.querySelector("[data-live-status]");
    if (!el) return;
    el.hidden = false;
    el.textContent = text || (online ? "Live" : "Reconnecting…");
    el.classList.toggle("offline", !online);
  }

  function connect(path, delay) {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var socket = new WebSocket(proto + "//" + location.host + path);
    socket.onmessage = function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg.type === "ready") {
        delay = 1000;
        setStatus(true);
        var last = sessionStorage.getItem(LAST_EVENT);
        if (last) socket.send(JSON.stringify({ type: "resume", after: last }));
        document.body.setAttribute("data-live-ready", "1");
        return;
      }
      if (msg.type === "pong" || msg.type === "error") return;
      if (msg.event_id) sessionStorage.setItem(LAST_EVENT, msg.event_id);
      dispatch(msg);
    };
    socket.onclose = function (e) {
      document.body.removeAttribute("data-live-ready");
      // The session or token ended (logout, password change, expiry): no reconnecting, and
      // say so, since "Reconnecting…" would never become true.
      if (e.code === 4401) { setStatus(false, "Signed out: reload to sign in"); return; }
      setStatus(false);
      setTimeout(function () { connect(path, Math.min(delay * 2, 30000)); }, delay);
    };
  }

  // --- SLA countdowns --------------------------------------------------------------------------
  // <time data-countdown datetime="due" data-at-risk="at-risk time" data-state="running">:
  // the time left, amber once at risk, red once breached. Paused and met clocks hold still.
  function span(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60), r = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + String(m).padStart(2, "0") + "m";
    return m + "m " + String(r).padStart(2, "0") + "s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var state = el.getAttribute("data-state") || "running";
      if (state === "paused" || state === "met") return;
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) return;
      var risk = Date.parse(el.getAttribute("data-at-risk") || "");
      var left = (due - now) / 1000;
      var cls = left <= 0 || state === "breached" ? "sla-breach"
        : (!isNaN(risk) && now >= risk) || state === "at_risk" ? "sla-risk" : "sla-ok";
      el.textContent = left <= 0 ? span(left) + " overdue" : span(left) + " left";
      el.classList.remove("sla-ok", "sla-risk", "sla-breach");
      el.classList.add("countdown", cls);
    });
  }

  // --- Keyboard shortcuts ------------------------------------------------------------------------
  // j / k move between rows marked data-row, x selects the row, Enter opens it; any button or
  // link with data-key="<letter>" inside the focused row (or data-global-key on the page) is
  // clicked by that letter; ? lists them.
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-row]")); }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var all = rows(), row = t && t.closest ? t.closest("[data-row]") : null;
    var i = row ? all.indexOf(row) : -1;
    if (e.key === "j" || e.key === "k") {
      var next = all[Math.max(0, Math.min(all.length - 1, i + (e.key === "j" ? 1 : -1)))];
      if (next) { next.focus(); e.preventDefault(); }
      return;
    }
    if (row && e.key === "x") {
      var box = row.querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; e.preventDefault(); }
      return;
    }
    if (row && e.key === "Enter" && t === row) {
      var open = row.querySelector("a[href]");
      if (open) { open.click(); e.preventDefault(); }
      return;
    }
    if (e.key === "?") {
      var help = document.getElementById("shortcuts");
      if (help) { help.hidden = !help.hidden; e.preventDefault(); }
      return;
    }
    var target = (row && row.querySelector('[data-key="' + e.key + '"]')) ||
      document.querySelector('[data-global-key="' + e.key + '"]');
    if (target && !target.disabled) { target.click(); e.preventDefault(); }
  }

  // --- Copy buttons ------------------------------------------------------------------------
  // <button type="button" data-copy="text" hidden>: shown once this script runs (without it,
  // the text is on the page to select), puts the text on the clipboard.
  function showCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (b) { b.hidden = false; });
  }

  function onCopy(e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      var status = button.querySelector("[data-copy-status]");
      if (status) status.textContent = " (copied)";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showCopyButtons();
    document.addEventListener("click", onCopy);
    document.body.addEventListener("htmx:afterSwap", showCopyButtons);
    var path = document.body.getAttribute("data-live-stream");
    if (path && "WebSocket" in window) connect(path, 1000);
    tick();
    setInterval(tick, 1000);
    document.addEventListener("keydown", onKey);
    document.body.addEventListener("htmx:afterSwap", tick);
  });
})();
