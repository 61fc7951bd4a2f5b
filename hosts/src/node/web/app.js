// The airswarm node's chat page. It speaks the local API's JSON over one WebSocket:
// requests carry an "id" that the node's reply echoes; events ({"event": ...}) arrive
// unasked. Everything the mesh sends is shown with textContent, never parsed as HTML.
"use strict";

const HISTORY_LIMIT = 500;
const MAX_MESSAGES = 2000;
const MAX_WARNINGS = 20;
const MAX_EARLY_STATUS = 200;
const CALL_TIMEOUT_MS = 15000;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 5000;
// How a channel key is written as text (airswarm_core::crypto::ChannelKey::to_text).
const CHANNEL_KEY_PREFIX = "airswarm-channel:";

const state = {
  me: null,
  peers: new Map(), // fingerprint -> {fingerprint, address, name, snr_db, rssi_dbm, heardAt}
  channels: [], // names, sorted
  messages: new Map(), // key (msg_id as a string, or "local-N" while sending) -> message
  earlyStatus: new Map(), // msg_id -> {status, reason} that came before the message itself
  unread: new Map(), // conversation -> count
  files: new Map(), // file id -> {file, name, size, pieces, have, state, channel, path}
  current: null, // conversation: "peer:FP", "chan:NAME" or "plain"
  connected: false,
};

const $ = (id) => document.getElementById(id);

// ---- connection -----------------------------------------------------------------

let socket = null;
let nextCallId = 1;
let localId = 1;
let arrivals = 0; // counts messages as the page learns of them
let reconnectDelay = RECONNECT_MIN_MS;
const pending = new Map(); // call id -> {resolve, timer}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws");
  socket.addEventListener("open", () => {
    reconnectDelay = RECONNECT_MIN_MS;
    setConnected(true);
    refresh();
  });
  socket.addEventListener("message", (e) => onFrame(e.data));
  socket.addEventListener("close", () => {
    setConnected(false);
    for (const [id, call] of pending) {
      clearTimeout(call.timer);
      call.resolve({ ok: false, error: "the connection to the node was lost" });
      pending.delete(id);
    }
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
  });
}

function setConnected(up) {
  state.connected = up;
  const conn = $("conn");
  conn.dataset.state = up ? "connected" : "reconnecting";
  conn.textContent = up ? "connected" : "node unreachable, reconnecting…";
  updateSendBox();
}

// Send one request; resolves with the node's reply (an {ok:false,error} on failure).
function call(request) {
  return new Promise((resolve) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      resolve({ ok: false, error: "not connected to the node" });
      return;
    }
    const id = nextCallId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve({ ok: false, error: "the node did not answer" });
    }, CALL_TIMEOUT_MS);
    pending.set(id, { resolve, timer });
    socket.send(JSON.stringify(Object.assign({}, request, { id })));
  });
}

function onFrame(data) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch (e) {
    showNotice("The node sent something that is not JSON.");
    return;
  }
  if (frame && typeof frame.event === "string") {
    onEvent(frame);
  } else if (frame && pending.has(frame.id)) {
    const callState = pending.get(frame.id);
    pending.delete(frame.id);
    clearTimeout(callState.timer);
    callState.resolve(frame);
  }
}

// Everything the page shows, fetched again (on connect and after missed events).
async function refresh() {
  const startedAt = arrivals;
  const [id, peers, channels, history, files] = await Promise.all([
    call({ cmd: "id" }),
    call({ cmd: "peers" }),
    call({ cmd: "channels" }),
    call({ cmd: "history", limit: HISTORY_LIMIT }),
    call({ cmd: "files" }),
  ]);
  if (files.ok) {
    state.files.clear();
    for (const f of files.files) state.files.set(f.file, f);
  }
  if (id.ok) {
    state.me = id;
    $("node-name").textContent = id.name || "(unnamed node)";
    $("node-fp").textContent = id.fingerprint;
    document.title = (id.name || "node") + " — airswarm";
  }
  if (peers.ok) {
    state.peers.clear();
    for (const p of peers.peers) notePeer(p, p.last_heard_ms);
  }
  if (channels.ok) state.channels = channels.channels.map((c) => c.name).sort();
  if (history.ok) {
    // Keep what is still being sent and what arrived while the history was on its way.
    const keep = [...state.messages.values()].filter((m) => m.status === "sending" || m.arrival > startedAt);
    state.messages.clear();
    for (const m of history.messages) {
      addMessage({
        key: String(m.msg_id),
        direction: m.direction,
        conv: convOf(m.channel, m.peer),
        name: m.direction === "out" ? "you" : m.name,
        peer: m.peer,
        text: m.text,
        sealed: m.sealed,
        status: m.status,
        reason: m.reason,
        at: m.at_ms,
      });
    }
    for (const m of keep) if (!state.messages.has(m.key)) state.messages.set(m.key, m);
  }
  for (const r of [id, peers, channels, history, files]) {
    if (!r.ok) showNotice("The node refused a request: " + r.error);
  }
  renderAll();
}

// ---- events ---------------------------------------------------------------------

function onEvent(ev) {
  switch (ev.event) {
    case "message": {
      const conv = convOf(ev.channel, ev.from);
      if (ev.from && !state.peers.has(ev.from)) notePeer({ fingerprint: ev.from, name: ev.name }, null);
      addMessage({
        key: String(ev.msg_id),
        direction: "in",
        conv,
        name: ev.name,
        peer: ev.from,
        address: ev.address,
        text: ev.text,
        sealed: ev.sealed,
        status: "received",
        at: ev.at_ms,
      });
      if (conv !== state.current) state.unread.set(conv, (state.unread.get(conv) || 0) + 1);
      renderAll();
      break;
    }
    case "sent": {
      const key = String(ev.msg_id);
      if (!state.messages.has(key)) {
        const conv = ev.channel ? convOf(ev.channel, null) : peerConv(ev.to);
        const local = [...state.messages.values()].find(
          (m) => m.status === "sending" && m.conv === conv && m.text === ev.text,
        );
        if (local) {
          rekey(local, key);
        } else {
          addMessage({ key, direction: "out", conv, name: "you", text: ev.text, status: "sent", at: Date.now() });
        }
      }
      renderMessages();
      break;
    }
    case "delivered":
      setStatus(String(ev.msg_id), "delivered", null);
      break;
    case "failed":
      setStatus(String(ev.msg_id), "failed", ev.reason || "not delivered");
      break;
    case "security":
      addWarning(ev.kind, ev.text);
      break;
    case "peer": {
      notePeer(ev, 0);
      renderPeers();
      break;
    }
    case "file_offered":
      if (!state.files.has(ev.file)) {
        state.files.set(ev.file, {
          file: ev.file, name: ev.name, size: ev.size, have: 0, pieces: null,
          state: "offered", channel: ev.channel, sharer_name: ev.sharer_name, sharer: ev.sharer,
        });
      }
      renderFiles();
      break;
    case "file_progress": {
      const f = state.files.get(ev.file) || { file: ev.file, name: ev.name, size: ev.size, state: "fetching" };
      f.have = ev.have;
      f.pieces = ev.pieces;
      if (f.state === "offered") f.state = "fetching";
      state.files.set(ev.file, f);
      renderFiles();
      break;
    }
    case "file_complete": {
      const f = state.files.get(ev.file) || { file: ev.file, name: ev.name, size: ev.size };
      f.state = "complete";
      f.path = ev.path;
      if (f.pieces) f.have = f.pieces;
      state.files.set(ev.file, f);
      renderFiles();
      showNotice("File complete: " + ev.name);
      break;
    }
    case "lagged":
      showNotice("The page missed " + ev.missed + " updates from the node; reloading them.");
      refresh();
      break;
    default:
      break;
  }
}

function setStatus(key, status, reason) {
  const m = state.messages.get(key);
  if (!m) {
    state.earlyStatus.set(key, { status, reason });
    while (state.earlyStatus.size > MAX_EARLY_STATUS) state.earlyStatus.delete(state.earlyStatus.keys().next().value);
    return;
  }
  m.status = status;
  m.reason = reason;
  renderMessages();
}

// ---- model ----------------------------------------------------------------------

function convOf(channel, peer) {
  if (channel) return "chan:" + channel;
  if (peer) return "peer:" + peer;
  return "plain";
}

// A send's "to" may be a fingerprint or a name.
function peerConv(to) {
  if (state.peers.has(to)) return "peer:" + to;
  for (const p of state.peers.values()) if (p.name === to) return "peer:" + p.fingerprint;
  return "peer:" + to;
}

function notePeer(p, lastHeardMs) {
  const old = state.peers.get(p.fingerprint) || {};
  state.peers.set(p.fingerprint, {
    fingerprint: p.fingerprint,
    address: p.address || old.address,
    name: p.name || old.name,
    snr_db: p.snr_db ?? old.snr_db,
    rssi_dbm: p.rssi_dbm ?? old.rssi_dbm,
    bridged: p.bridged ?? old.bridged ?? false,
    heardAt: typeof lastHeardMs === "number" ? Date.now() - lastHeardMs : old.heardAt ?? null,
  });
}

function addMessage(m) {
  const early = state.earlyStatus.get(m.key);
  if (early) {
    m.status = early.status;
    m.reason = early.reason;
    state.earlyStatus.delete(m.key);
  }
  m.arrival = ++arrivals;
  state.messages.set(m.key, m);
  while (state.messages.size > MAX_MESSAGES) state.messages.delete(state.messages.keys().next().value);
}

// A message being sent gets the node's msg_id; it keeps its place in the conversation.
function rekey(m, key) {
  const old = m.key;
  m.key = key;
  if (m.status === "sending") m.status = "sent";
  const early = state.earlyStatus.get(key);
  if (early) {
    m.status = early.status;
    m.reason = early.reason;
    state.earlyStatus.delete(key);
  }
  state.messages = new Map([...state.messages].map(([k, v]) => (k === old ? [key, m] : [k, v])));
}

function peerLabel(fp) {
  const p = state.peers.get(fp);
  return (p && p.name) || fp.slice(0, 8);
}

function convTitle(conv) {
  if (!conv) return "Pick a peer or a channel";
  if (conv === "plain") return "Unsealed broadcasts";
  if (conv.startsWith("chan:")) return "#" + conv.slice(5);
  return peerLabel(conv.slice(5));
}

// ---- sending and joining --------------------------------------------------------

async function sendCurrent(e) {
  e.preventDefault();
  const input = $("send-text");
  const text = input.value.trim();
  const conv = state.current;
  if (!text || !conv || conv === "plain") return;
  input.value = "";
  const request = { cmd: "send", text };
  if (conv.startsWith("chan:")) request.channel = conv.slice(5);
  else request.to = conv.slice(5);
  const m = { key: "local-" + localId++, direction: "out", conv, name: "you", text, status: "sending", at: Date.now() };
  addMessage(m);
  renderMessages();
  const reply = await call(request);
  if (reply.ok) {
    const key = String(reply.msg_id);
    if (state.messages.has(key)) {
      // The "sent" event came first and made its own entry: keep that one.
      state.messages.delete(m.key);
    } else {
      rekey(m, key);
    }
  } else {
    m.status = "failed";
    m.reason = reply.error;
  }
  renderMessages();
}

async function join(e) {
  e.preventDefault();
  const channel = $("join-channel").value.trim();
  const passphrase = $("join-passphrase").value;
  const error = $("join-error");
  if (!channel || !passphrase) return;
  // A channel key shared as text is used as it is; anything else is a passphrase.
  const secret = passphrase.trim();
  const request = secret.startsWith(CHANNEL_KEY_PREFIX)
    ? { cmd: "join", channel, key: secret }
    : { cmd: "join", channel, passphrase };
  const reply = await call(request);
  if (!reply.ok) {
    error.textContent = "Could not join: " + reply.error;
    error.hidden = false;
    return;
  }
  error.hidden = true;
  $("join-form").reset();
  const channels = await call({ cmd: "channels" });
  if (channels.ok) state.channels = channels.channels.map((c) => c.name).sort();
  if (!state.channels.includes(channel)) state.channels.push(channel);
  select("chan:" + channel);
}

async function share(e) {
  e.preventDefault();
  const path = $("share-path").value.trim();
  const error = $("share-error");
  if (!path) return;
  const request = { cmd: "share", path };
  if (state.current && state.current.startsWith("chan:")) request.channel = state.current.slice(5);
  const reply = await call(request);
  if (!reply.ok) {
    error.textContent = "Could not share: " + reply.error;
    error.hidden = false;
    return;
  }
  error.hidden = true;
  $("share-form").reset();
  state.files.set(reply.file, {
    file: reply.file, name: reply.name, size: reply.size, pieces: reply.pieces,
    have: reply.pieces, state: "shared", channel: reply.channel, path,
  });
  renderFiles();
}

async function fetchFile(id) {
  const reply = await call({ cmd: "fetch", file: id });
  if (!reply.ok) {
    showNotice("Could not fetch: " + reply.error);
    return;
  }
  const f = state.files.get(id);
  if (f) {
    f.state = reply.state;
    if (reply.pieces) f.pieces = reply.pieces;
  }
  renderFiles();
}

function select(conv) {
  state.current = conv;
  state.unread.delete(conv);
  renderAll();
  $("send-text").focus();
}

// ---- rendering ------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "title" || k === "type" || k === "datetime")
      node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function renderAll() {
  renderPeers();
  renderChannels();
  renderMessages();
  renderFiles();
}

const FILE_STATES = {
  offered: "offered",
  fetching: "fetching",
  complete: "complete",
  shared: "shared by you",
  relay: "carried for neighbours",
};

function renderFiles() {
  const items = [...state.files.values()].map((f) => {
    const pieces = f.pieces || 0;
    const have = f.have || 0;
    const from = f.sharer_name || (f.sharer ? f.sharer.slice(0, 8) + "…" : null);
    const info = [
      (f.size || 0) + " bytes",
      FILE_STATES[f.state] || f.state,
      pieces ? have + "/" + pieces + " pieces" : null,
      f.channel ? "#" + f.channel : null,
      from && f.state !== "shared" ? "from " + from : null,
    ].filter(Boolean).join(" · ");
    let action = null;
    if (f.state === "offered") {
      action = el("button", { type: "button", class: "fetch", "data-file": f.file }, "Fetch");
      action.addEventListener("click", () => fetchFile(f.file));
    } else if (f.state === "complete" && f.path) {
      action = el("a", { href: "/files/" + encodeURIComponent(f.file), class: "save", download: f.name || "" }, "Save");
    }
    const bar = f.state === "fetching" && pieces ? el("progress", { max: pieces, value: have, "aria-label": "progress" }) : null;
    return el("li", { "data-file": f.file, "data-state": f.state },
      el("span", { class: "file-name" }, f.name || f.file), action || el("span", {}),
      bar, el("span", { class: "file-info" }, info));
  });
  $("files").replaceChildren(...items);
  $("files-empty").hidden = items.length > 0;
}

function convButton(conv, label, extra) {
  const unread = state.unread.get(conv) || 0;
  return el(
    "button",
    { type: "button", class: "conv", "aria-current": conv === state.current ? "true" : null, onclick: () => select(conv) },
    el("span", { class: "name" }, label),
    unread ? el("span", { class: "unread", "aria-label": unread + " unread" }, String(unread)) : null,
    extra,
  );
}

// LoRa demodulates below the noise floor: down to -7.5 dB SNR at SF7 and -20 dB at SF12
// (SX1276 datasheet rev. 7, table 13, "Range of Spreading Factors"), so the SNR bars
// count the margin above those limits. The RSSI steps are a rough guide only.
function snrLevel(snr) {
  if (typeof snr !== "number") return 0;
  return snr >= 5 ? 4 : snr >= 0 ? 3 : snr >= -7 ? 2 : snr >= -15 ? 1 : 0;
}

function rssiLevel(rssi) {
  if (typeof rssi !== "number") return 0;
  return rssi >= -70 ? 4 : rssi >= -90 ? 3 : rssi >= -105 ? 2 : rssi >= -120 ? 1 : 0;
}

function bars(kind, level, label) {
  const b = el("span", { class: "bars " + kind, "data-level": String(level), role: "img", "aria-label": label, title: label });
  for (let i = 1; i <= 4; i++) b.append(el("i", { class: i <= level ? "on" : "" }));
  return b;
}

function heardText(p) {
  if (p.heardAt === null || p.heardAt === undefined) return "not heard yet";
  const s = Math.max(0, Math.round((Date.now() - p.heardAt) / 1000));
  if (s < 60) return "heard " + s + " s ago";
  if (s < 3600) return "heard " + Math.floor(s / 60) + " min ago";
  return "heard " + Math.floor(s / 3600) + " h ago";
}

function renderPeers() {
  const list = $("peers");
  const peers = [...state.peers.values()].sort(
    (a, b) => (a.name || "").localeCompare(b.name || "") || a.fingerprint.localeCompare(b.fingerprint),
  );
  list.replaceChildren(
    ...peers.map((p) => {
      const snr = typeof p.snr_db === "number" ? "SNR " + p.snr_db.toFixed(1) + " dB" : "SNR unknown";
      const rssi = typeof p.rssi_dbm === "number" ? "RSSI " + Math.round(p.rssi_dbm) + " dBm" : "RSSI unknown";
      const link = el(
        "span",
        { class: "link" },
        bars("snr", snrLevel(p.snr_db), snr),
        el("span", { class: "snr" }, snr),
        bars("rssi", rssiLevel(p.rssi_dbm), rssi),
        el("span", { class: "rssi" }, rssi),
      );
      const details = el(
        "span",
        { class: "details" },
        el("code", { class: "fp", title: p.fingerprint }, p.fingerprint.slice(0, 16)),
        link,
        el("span", { class: "heard" }, heardText(p)),
        ...(p.bridged ? [el("span", { class: "bridged", title: "heard through a bridge to another island" }, "via bridge")] : []),
      );
      return el("li", { "data-fingerprint": p.fingerprint }, convButton("peer:" + p.fingerprint, p.name || p.fingerprint.slice(0, 8), details));
    }),
  );
  $("peers-empty").hidden = peers.length > 0;
}

function renderChannels() {
  const items = state.channels.map((name) => el("li", { "data-channel": name }, convButton("chan:" + name, "#" + name)));
  const hasPlain = [...state.messages.values()].some((m) => m.conv === "plain");
  if (hasPlain) items.push(el("li", { "data-channel": "" }, convButton("plain", "Unsealed broadcasts")));
  $("channels").replaceChildren(...items);
}

const STATUS_MARKS = {
  sending: ["…", "sending"],
  sent: ["✓", "sent, waiting for delivery"],
  delivered: ["✓✓", "delivered"],
  failed: ["✗ not delivered", "failed"],
};

function statusMark(m) {
  let [mark, title] = STATUS_MARKS[m.status] || ["", m.status];
  if (m.status === "sent" && m.conv.startsWith("chan:")) title = "sent to the channel";
  if (m.status === "failed" && m.reason) {
    mark = "✗ not delivered: " + m.reason;
    title = "failed: " + m.reason;
  }
  return el("span", { class: "status", "data-status": m.status, title, "aria-label": title }, mark);
}

// The time of day for today's messages, the date as well for older ones.
function shortTime(when) {
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (when.toDateString() === new Date().toDateString()) return time;
  return when.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + time;
}

// A sender's name as the message gave it, else as the peer list knows it (a node learns
// a peer's name from its announcements, which may come after its first message). An
// unsigned channel message proves no sender: only the address it claims is known, and
// the name that goes with that address is shown as unverified.
function senderName(m) {
  if (m.name) return m.name;
  if (m.peer) {
    const p = state.peers.get(m.peer);
    return (p && p.name) || m.peer.slice(0, 8);
  }
  if (m.address) {
    const p = [...state.peers.values()].find((q) => q.address === m.address);
    return ((p && p.name) || m.address) + " (unverified)";
  }
  return "unknown sender";
}

function messageItem(m) {
  const when = new Date(typeof m.at === "number" ? m.at : Date.now());
  return el(
    "li",
    { class: "msg " + m.direction, "data-msg-id": m.key, "data-direction": m.direction },
    el("span", { class: "from" }, m.direction === "out" ? "you" : senderName(m)),
    el("time", { datetime: when.toISOString(), title: when.toLocaleString() }, shortTime(when)),
    m.sealed === "plain" ? el("span", { class: "plain", title: "not encrypted" }, "unsealed") : null,
    el("p", { class: "text" }, m.text),
    m.direction === "out" ? statusMark(m) : null,
  );
}

// Updates the list in place (new items appended, status marks swapped), so that a screen
// reader's live log announces what is new rather than the whole conversation again.
function renderMessages() {
  $("conv-title").textContent = convTitle(state.current);
  const list = $("messages");
  const switched = list.dataset.conv !== String(state.current);
  if (switched) {
    list.replaceChildren();
    list.dataset.conv = String(state.current);
  }
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const stale = new Set(list.children);
  let previous = null;
  for (const m of state.messages.values()) {
    if (m.conv !== state.current) continue;
    let li = m.el && m.el.parentNode === list ? m.el : null;
    if (!li) {
      li = messageItem(m);
      m.el = li;
    } else {
      stale.delete(li);
      li.dataset.msgId = m.key;
      const mark = li.querySelector(".status");
      if (mark && (mark.dataset.status !== m.status || mark.title !== statusMark(m).title)) mark.replaceWith(statusMark(m));
    }
    const wanted = previous ? previous.nextSibling : list.firstChild;
    if (wanted !== li) list.insertBefore(li, wanted);
    previous = li;
  }
  for (const li of stale) li.remove();
  if (switched || atBottom) list.scrollTop = list.scrollHeight;
  updateSendBox();
}

function updateSendBox() {
  const usable = state.connected && state.current !== null && state.current !== "plain";
  $("send-text").disabled = !usable;
  $("send-button").disabled = !usable;
}

function addWarning(kind, text) {
  const list = $("security-list");
  list.append(el("li", { "data-kind": kind || "" }, el("strong", {}, (kind || "security") + ": "), text || ""));
  while (list.children.length > MAX_WARNINGS) list.firstElementChild.remove();
  $("security").hidden = false;
}

let noticeTimer = null;
function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.hidden = true), 8000);
}

// ---- start ----------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("send-form").addEventListener("submit", sendCurrent);
  $("join-form").addEventListener("submit", join);
  $("share-form").addEventListener("submit", share);
  $("security-dismiss").addEventListener("click", () => {
    $("security").hidden = true;
    $("security-list").replaceChildren();
  });
  setInterval(() => {
    for (const li of document.querySelectorAll("#peers li")) {
      const p = state.peers.get(li.dataset.fingerprint);
      const heard = li.querySelector(".heard");
      if (p && heard) heard.textContent = heardText(p);
    }
  }, 5000);
  connect();
});
