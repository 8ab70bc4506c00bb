// Lossless resume: a visitor writes 1,000 messages into one room, then
// reconnects with the sequence it had before them. Timed from the moment the
// client starts connecting (so the upgrade, the Worker's token check and the
// room's replay query are all inside) to the room's `live` frame, and the
// replay must be exactly those 1,000 messages, in order, once each (they come
// in `replay` frames of up to 200; live `message` frames would count too).
import { closeAll, now, openSocket, percentile, round, sleep, waitFor } from "../lib/sockets.mjs";

export async function resume(api, { inboxId, messages = 1000, repeats = 5, window = 25, log }) {
  const { token } = await api.visitor(inboxId);
  const seqOf = new Map();
  const refused = {}; // error code → count: a refused send would never be echoed
  const { ws } = await openSocket(api.visitorSocketUrl(token), {
    ready: (d) => d.startsWith('{"type":"live"'),
    onFrame: (data) => {
      const f = JSON.parse(data);
      if (f.type === "message" && f.message.clientId) seqOf.set(f.message.clientId, f.message.seq);
      else if (f.type === "error") refused[`${f.code}: ${f.message}`] = (refused[`${f.code}: ${f.message}`] ?? 0) + 1;
    },
  });

  // The first message opens the conversation; the resume point is right after it.
  ws.send(JSON.stringify({ type: "send", clientId: "resume_anchor", body: "Before the thousand" }));
  if (!(await waitFor(() => seqOf.has("resume_anchor"), 10_000))) throw new Error("the anchor message was not echoed");
  const anchorSeq = seqOf.get("resume_anchor");

  // Written with a bounded number in flight: as fast as the room stores them.
  const writeStart = now();
  let sent = 0;
  const deadline = now() + 120_000;
  while (sent < messages && now() < deadline) {
    const inFlight = sent - (seqOf.size - 1);
    if (inFlight < window) {
      ws.send(JSON.stringify({ type: "send", clientId: `resume_${sent}`, body: `Message ${sent} of the resume test` }));
      sent++;
    } else await sleep(1);
  }
  if (!(await waitFor(() => seqOf.size - 1 >= messages, Math.max(0, deadline - now())))) {
    throw new Error(`only ${seqOf.size - 1} of ${messages} messages were stored within 120 s${Object.keys(refused).length ? `; refused: ${JSON.stringify(refused)}` : ""}`);
  }
  const writeMs = now() - writeStart;
  const lastSeq = Math.max(...seqOf.values());
  await closeAll([ws]);
  log(`resume: ${messages} messages written in ${Math.round(writeMs)} ms (${Math.round((messages / writeMs) * 1000)}/s, ${window} in flight)`);

  const runs = [];
  for (let i = 0; i < repeats; i++) runs.push(await reconnect(api.visitorSocketUrl(token, anchorSeq), anchorSeq, lastSeq));
  // The same reconnect with nothing to replay: what the handshake alone costs.
  const baseline = [];
  for (let i = 0; i < repeats; i++) baseline.push(await reconnect(api.visitorSocketUrl(token, lastSeq), lastSeq, lastSeq));

  const ms = runs.map((r) => r.connectToLiveMs).sort((a, b) => a - b);
  const base = baseline.map((r) => r.connectToLiveMs).sort((a, b) => a - b);
  const exact = runs.every((r) => r.count === lastSeq - anchorSeq && r.inOrder && r.duplicates === 0);
  return {
    messages,
    anchorSeq,
    lastSeq,
    expectedReplay: lastSeq - anchorSeq,
    writeMs: round(writeMs, 0),
    writesPerSec: round((messages / writeMs) * 1000, 0),
    repeats,
    medianMs: round(percentile(ms, 50)),
    maxMs: round(ms.at(-1)),
    openToLiveMedianMs: round(percentile(runs.map((r) => r.openToLiveMs).sort((a, b) => a - b), 50)),
    handshakeOnlyMedianMs: round(percentile(base, 50)),
    replayCounts: runs.map((r) => r.count),
    exact,
    runs: runs.map((r) => ({ connectToLiveMs: round(r.connectToLiveMs), openToLiveMs: round(r.openToLiveMs), count: r.count, inOrder: r.inOrder, duplicates: r.duplicates })),
  };
}

async function reconnect(url, after, lastSeq) {
  const seqs = [];
  let welcome = null;
  const { ws, startedAt, openedAt, readyAt } = await openSocket(url, {
    ready: (d) => d.startsWith('{"type":"live"'),
    onFrame: (data) => {
      const f = JSON.parse(data);
      if (f.type === "welcome") welcome = f;
      else if (f.type === "replay") seqs.push(...f.messages.map((m) => m.seq));
      else if (f.type === "message") seqs.push(f.message.seq);
    },
  });
  await closeAll([ws]);
  let inOrder = seqs.every((s, i) => s > after && s <= lastSeq && (i === 0 || s > seqs[i - 1]));
  if (!welcome) inOrder = false;
  return { connectToLiveMs: readyAt - startedAt, openToLiveMs: readyAt - (openedAt ?? startedAt), count: seqs.length, inOrder, duplicates: seqs.length - new Set(seqs).size };
}
