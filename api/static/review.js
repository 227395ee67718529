const $ = (id) => document.getElementById(id);
const key = () => sessionStorage.getItem("clearance-key") || "";
async function api(path, options = {}) {
  const response = await fetch(path, { ...options,
    headers: { ...(options.headers || {}), "Authorization": "Bearer " + key(), "Content-Type": "application/json" } });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((body && body.detail) || response.statusText);
  return body;
}
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
// for text and attribute values alike (attributes here are always double-quoted)
function esc(text) { return String(text ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]); }
async function loadQueue() {
  sessionStorage.setItem("clearance-key", $("key").value || key());
  try {
    const page = await api("/v1/review/cases?limit=100");
    $("who").textContent = page.total + " open case(s)";
    $("cases").innerHTML = page.items.map((c) => `<li data-track="${esc(c.track_id)}">
      <span class="sev">${Number(c.decision.severity ?? 0)}</span> ${c.decision.escalated ? "<em>escalated</em> " : ""}<strong>${esc(c.submission?.title || c.track_id)}</strong><br>
      <span class="muted">${c.decision.reasons.map((r) => esc(r.code)).join(", ")}</span></li>`).join("");
    document.querySelectorAll("#cases li").forEach((li) => li.onclick = () => openCase(li.dataset.track));
  } catch (e) { $("who").textContent = "error: " + e.message; }
}
const MODIFIED = { sped_up: "sped up", slowed: "slowed", pitch_shifted: "pitch-shifted", time_stretched: "time-stretched", pitch_shifted_and_time_stretched: "pitch-shifted and time-stretched" };
function factors(seg) {
  const pitch = seg.pitch_shift_semitones ?? 0;
  return `${MODIFIED[seg.modification] || esc(seg.modification)} ${Number(seg.tempo_factor).toFixed(2)}x, ${pitch >= 0 ? "+" : ""}${Number(pitch).toFixed(1)} st`;
}
function segmentNote(seg) {
  if (seg.method === "landmarks") return ` (under other audio: spectral-peak landmarks${seg.peak_hit_rate != null ? `, ${Math.round(seg.peak_hit_rate * 100)} % of its peaks` : ""})`;
  if (seg.method === "modified") return ` (${factors(seg)}${seg.peak_hit_rate != null ? `, ${Math.round(seg.peak_hit_rate * 100)} % of its peaks` : ""})`;
  return "";
}
function timeline(record) {
  const duration = record.facts?.duration_s || 1, width = 800, x = (s) => 110 + (s / duration) * (width - 120);
  const rows = [];
  let y = 20;
  rows.push(`<line x1="110" y1="8" x2="${width - 10}" y2="8" stroke="#999"/>`);
  for (let s = 0; s <= duration; s += Math.max(5, Math.round(duration / 10))) {
    rows.push(`<text x="${x(s)}" y="6" text-anchor="middle">${s}s</text>`);
  }
  for (const m of record.matches || []) {
    rows.push(`<text x="4" y="${y + 10}">${esc(m.isrc)}</text>`);
    for (const seg of m.segments) rows.push(`<rect class="match" x="${x(seg.upload_start_s)}" y="${y}" width="${Math.max(2, x(seg.upload_end_s) - x(seg.upload_start_s))}" height="12" fill="#2e86de"><title>${esc(m.title)} ${seg.reference_start_s.toFixed(1)}-${seg.reference_end_s.toFixed(1)} s of the master${segmentNote(seg)}</title></rect>${seg.method === "modified" ? `<text class="factor" x="${x(seg.upload_end_s) + 4}" y="${y + 10}">${factors(seg)}</text>` : ""}`);
    y += 18;
  }
  for (const c of record.compositions || []) {
    rows.push(`<text x="4" y="${y + 10}">${esc(c.work_id)}<title>composition: ${esc(c.title)} (written by ${(c.writers || []).map(esc).join(", ")})</title></text>`);
    for (const seg of c.segments) rows.push(`<rect class="composition" x="${x(seg.upload_start_s)}" y="${y}" width="${Math.max(2, x(seg.upload_end_s) - x(seg.upload_start_s))}" height="12" fill="#16a085"><title>performs '${esc(c.title)}' ${seg.reference_start_s.toFixed(1)}-${seg.reference_end_s.toFixed(1)} s of ${esc(seg.performance)}, ${seg.transposition_semitones >= 0 ? "+" : ""}${seg.transposition_semitones} st, tempo ${Number(seg.tempo_factor).toFixed(2)}x (similarity ${Number(seg.score).toFixed(0)}${seg.lead_agreement == null ? "" : `, tune ${Math.round(Number(seg.lead_agreement) * 100)} % alike`})</title></rect><text class="factor" x="${x(seg.upload_end_s) + 4}" y="${y + 10}">cover ${seg.transposition_semitones >= 0 ? "+" : ""}${seg.transposition_semitones} st, ${Number(seg.tempo_factor).toFixed(2)}x</text>`);
    y += 18;
  }
  const wm = record.watermark;
  if (wm) {
    const read = wm.generator_name ? `${wm.generator_name} v${wm.generator_version}` : "no payload";
    const moved = wm.grid_offset_samples ? `; read ${wm.grid_offset_samples} samples off its grid (trimmed or re-placed)` : "";
    rows.push(`<text x="4" y="${y + 10}">watermark<title>${esc(read)}${wm.generator_registered === false ? " (not a registered generator)" : ""}, score ${wm.probability.toFixed(2)}${esc(moved)}${wm.read_share < 1 ? `; screened: ${Math.round(100 * wm.read_share)} % read` : ""}</title></text>`);
    // a second the detector did not read (a screened upload) is null: drawn as nothing
    (wm.per_second || []).forEach((p, i) => { if (typeof p === "number") rows.push(`<rect class="wm" x="${x(i)}" y="${y + 12 - 12 * p}" width="${Math.max(1, x(i + 1) - x(i))}" height="${12 * p}" fill="#8e44ad"><title>${i} s: ${p.toFixed(2)}</title></rect>`); });
    y += 18;
  }
  const words = [...(record.harassment?.hits || []).flatMap((h) => h.words), ...(record.name_opt_out?.requests || []).map((r) => r.written)];
  if (words.length) { rows.push(`<text x="4" y="${y + 10}">flagged words</text><text class="words" x="110" y="${y + 10}" fill="#c0392b">${words.map(esc).join(" · ")}</text>`); y += 18; }
  return `<svg id="timeline" width="${width}" height="${y + 8}" role="img" aria-label="evidence timeline">${rows.join("")}</svg>`;
}
async function openCase(trackId) {
  document.querySelectorAll("#cases li").forEach((li) => li.classList.toggle("active", li.dataset.track === trackId));
  const c = await api("/v1/review/cases/" + encodeURIComponent(trackId));
  const r = c.record, d = r.decision || {};
  $("case").innerHTML = `<h2>${esc(r.submission?.title || trackId)}</h2>
    <p class="muted">${esc(trackId)} · ${esc(r.submission?.source)} · ${(r.facts?.duration_s || 0).toFixed(1)} s</p>
    <audio id="player" controls preload="none"></audio>
    <h3>Decision: <span id="action">${esc(d.action)}</span></h3>
    ${(d.reasons || []).map((x) => `<div class="reason"><span class="code">${esc(x.code)}</span> ${esc(x.message)}</div>`).join("")}
    <h3>Evidence</h3>${timeline(r)}
    <h3>Act</h3><input id="why" placeholder="reason" size="60">
    <div class="actions"><button id="uphold">Uphold</button><button id="overturn">Overturn</button><button id="escalate">Escalate</button></div>
    <div id="status"></div>
    <h3>History</h3><ol>${c.decisions.map((x) => `<li>${esc(x.occurred_at)} ${esc(x.action)}${x.verdict ? " (verdict)" : ""}</li>`).join("")}</ol>
    <h3>Audit trail</h3><ol id="audit">${c.audit.map((a) => `<li>${esc(a.occurred_at)} ${esc(a.reviewer)} ${esc(a.action)}: ${esc(a.reason)}</li>`).join("")}</ol>`;
  for (const action of ["uphold", "overturn", "escalate"]) $(action).onclick = () => act(trackId, d.event_id, action);
  fetch("/v1/tracks/" + encodeURIComponent(trackId) + "/audio", { headers: { "Authorization": "Bearer " + key() } })
    .then((res) => res.ok ? res.blob() : null).then((blob) => { if (blob) $("player").src = URL.createObjectURL(blob); });
}
async function act(trackId, decisionId, action) {
  try {
    const done = await api(`/v1/review/cases/${encodeURIComponent(trackId)}/actions`, { method: "POST",
      body: JSON.stringify({ action, decision_event_id: decisionId, reason: $("why").value || action + " by reviewer" }) });
    $("status").textContent = `${action} sent; new decision: ${done.outcome}`;
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const c = await api("/v1/review/cases/" + encodeURIComponent(trackId));
      if (c.record.decision?.event_id !== decisionId) {
        $("action").textContent = c.record.decision.action;
        $("status").textContent = `${action} applied: decision is now ${c.record.decision.action}`;
        $("audit").innerHTML = c.audit.map((a) => `<li>${esc(a.occurred_at)} ${esc(a.reviewer)} ${esc(a.action)}: ${esc(a.reason)}</li>`).join("");
        return;
      }
    }
  } catch (e) { $("status").textContent = "error: " + e.message; }
}
$("load").onclick = loadQueue;
if (key()) { $("key").value = key(); loadQueue(); }
