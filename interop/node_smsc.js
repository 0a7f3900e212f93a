// An SMSC built on the Node `smpp` package (not our code), for interop tests:
// Kurier's SMPP connector binds to it, submits, and gets receipts and MO.
//
// Usage: node node_smsc.js   -> prints "LISTENING <smpp port> <http port>"
// Control (HTTP on 127.0.0.1): GET /stats, POST /mo {"from","to","text"}.
// Counts what a peer can see of a client: the most submit_sm outstanding at
// once (answers are delayed SUBMIT_DELAY_MS so a window can fill) and the
// most submit_sm received within any one second.
'use strict';
const http = require('http');
const smpp = require('smpp');

const SUBMIT_DELAY_MS = Number(process.env.SUBMIT_DELAY_MS || 20);
const RECEIPT_DELAY_MS = Number(process.env.RECEIPT_DELAY_MS || 50);

const stats = { binds: 0, submits: 0, outstanding: 0, max_window: 0, peak_per_second: 0, receipts: 0, mo: 0 };
const received = [];          // reassembled messages
const pending = new Map();    // concat key -> { total, parts: Map(seq -> text) }
const perSecond = [];         // timestamps (ms) of recent submits
let receivers = [];           // sessions bound as receiver/transceiver
let nextId = 1000;

function countSubmit() {
  const now = Date.now();
  perSecond.push(now);
  while (perSecond.length && perSecond[0] <= now - 1000) perSecond.shift();
  stats.peak_per_second = Math.max(stats.peak_per_second, perSecond.length);
}

function concatInfo(pdu) {
  const sm = pdu.short_message;
  if (sm && sm.udh) {
    for (const ie of sm.udh) {
      if (ie[0] === 0x00 && ie.length >= 5) return { ref: ie[2], total: ie[3], seq: ie[4] };
      if (ie[0] === 0x08 && ie.length >= 6) return { ref: ie.readUInt16BE(2), total: ie[4], seq: ie[5] };
    }
  }
  if (pdu.sar_msg_ref_num !== undefined && pdu.sar_total_segments !== undefined) {
    return { ref: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum };
  }
  return null;
}

function textOf(pdu) {
  const sm = pdu.message_payload && pdu.message_payload.message !== undefined ? pdu.message_payload : pdu.short_message;
  if (!sm) return '';
  if (typeof sm === 'string') return sm;
  if (typeof sm.message === 'string') return sm.message;
  return Buffer.isBuffer(sm.message) ? sm.message.toString('latin1') : String(sm.message);
}

function record(pdu) {
  const text = textOf(pdu);
  const c = concatInfo(pdu);
  if (!c || c.total <= 1) {
    received.push({ from: pdu.source_addr, to: pdu.destination_addr, text, parts: 1, data_coding: pdu.data_coding });
    return;
  }
  const key = `${pdu.source_addr}|${pdu.destination_addr}|${c.ref}`;
  const entry = pending.get(key) || { total: c.total, parts: new Map() };
  entry.parts.set(c.seq, text);
  pending.set(key, entry);
  if (entry.parts.size === entry.total) {
    const full = [...entry.parts.keys()].sort((a, b) => a - b).map((k) => entry.parts.get(k)).join('');
    received.push({ from: pdu.source_addr, to: pdu.destination_addr, text: full, parts: entry.total, data_coding: pdu.data_coding });
    pending.delete(key);
  }
}

function receipt(session, id, destination, source) {
  const d = new Date();
  const stamp = d.toISOString().replace(/[-:T]/g, '').slice(2, 12);
  const text = `id:${id} sub:001 dlvrd:001 submit date:${stamp} done date:${stamp} stat:DELIVRD err:000 text:`;
  const target = receivers.find((s) => s.system_id === session.system_id) || receivers[0];
  if (!target) return;
  target.send(new smpp.PDU('deliver_sm', {
    source_addr: destination, destination_addr: source, esm_class: 0x04,
    short_message: text, receipted_message_id: String(id), message_state: 2,
  }), () => { stats.receipts++; });
}

const server = smpp.createServer({}, (session) => {
  const onBind = (kind) => (pdu) => {
    session.system_id = pdu.system_id;
    stats.binds++;
    if (kind !== 'transmitter') receivers.push(session);
    session.send(pdu.response({ system_id: 'nodesmsc' }));
  };
  session.on('bind_transceiver', onBind('transceiver'));
  session.on('bind_transmitter', onBind('transmitter'));
  session.on('bind_receiver', onBind('receiver'));
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => { session.send(pdu.response()); session.close(); });
  session.on('close', () => { receivers = receivers.filter((s) => s !== session); });
  session.on('error', () => {});
  session.on('deliver_sm_resp', () => {});
  session.on('submit_sm', (pdu) => {
    stats.submits++;
    stats.outstanding++;
    stats.max_window = Math.max(stats.max_window, stats.outstanding);
    countSubmit();
    record(pdu);
    const id = String(nextId++);
    setTimeout(() => {
      stats.outstanding--;
      session.send(pdu.response({ message_id: id }));
      if (pdu.registered_delivery & 0x01) {
        setTimeout(() => receipt(session, id, pdu.destination_addr, pdu.source_addr), RECEIPT_DELAY_MS);
      }
    }, SUBMIT_DELAY_MS);
  });
});

const control = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && req.url === '/stats') {
      res.end(JSON.stringify({ ...stats, received }));
    } else if (req.method === 'POST' && req.url === '/mo') {
      let mo;
      try { mo = JSON.parse(body); } catch (e) { res.statusCode = 400; return res.end('{"error":"bad json"}'); }
      const target = receivers[0];
      if (!target) { res.statusCode = 409; return res.end('{"error":"no receiver bound"}'); }
      target.send(new smpp.PDU('deliver_sm', {
        source_addr: mo.from.replace(/^\+/, ''), source_addr_ton: mo.from.startsWith('+') ? 1 : 0, source_addr_npi: 1,
        destination_addr: mo.to, short_message: mo.text,
      }), () => { stats.mo++; });
      res.statusCode = 202;
      res.end('{}');
    } else {
      res.statusCode = 404;
      res.end('{"error":"not found"}');
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  control.listen(0, '127.0.0.1', () => {
    console.log(`LISTENING ${server.address().port} ${control.address().port}`);
  });
});
