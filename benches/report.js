#!/usr/bin/env node
// Formats benches/compare.sh results (JSON lines) as the markdown tables of BENCHMARKS.md.
//
//   node benches/report.js target/bench-results/results.jsonl            # markdown on stdout
//   node benches/report.js target/bench-results/results.jsonl --update BENCHMARKS.md
//
// --update replaces the text between `<!-- results:start -->` and `<!-- results:end -->`.
"use strict";
const fs = require("fs");

const [file, flag, doc] = process.argv.slice(2);
if (!file) {
  console.error("usage: report.js RESULTS.jsonl [--update BENCHMARKS.md]");
  process.exit(2);
}
const lines = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const machine = (lines.find((l) => l.machine) || {}).machine || {};
const end = (lines.find((l) => l.end) || {}).end || {};
const runs = lines.filter((l) => l.workload);

const median = (xs) => {
  const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const cell = (w, s) => runs.filter((r) => r.workload === w && r.server === s && !r.result.failed).map((r) => r.result);
const failedRuns = (w, s) => runs.filter((r) => r.workload === w && r.server === s && r.result.failed).length;
const med = (w, s, f) => median(cell(w, s).map(f));

const fmtRate = (x) => (x == null ? "–" : x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));
const fmt = (x, d = 1) => (x == null ? "–" : x.toFixed(d));
const ratio = (a, b) => (a == null || b == null || b === 0 ? null : a / b);
const fmtRatio = (x) => (x == null ? "–" : `${x.toFixed(2)}×`);

const workloads = [...new Set(runs.map((r) => r.workload))];
const steady = workloads.filter((w) => !w.startsWith("hold"));
const holds = workloads.filter((w) => w.startsWith("hold"));
const unitOf = (w) => (w.startsWith("action") ? "round trips/s" : w.startsWith("broadcast") ? "deliveries/s" : "cycles/s");

const loads = runs.map((r) => r.load1).filter((x) => typeof x === "number");
const loadRange = loads.length ? `${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}` : "?";
let out = [];
out.push(
  `Machine: ${machine.cpu || "?"}${machine.mhz ? ` at ${machine.mhz} MHz` : ""}${machine.hypervisor ? ` (${machine.hypervisor} guest)` : ""}, ${machine.cores || "?"} cores, Linux ${machine.kernel || "?"}, ${machine.rustc || "?"}, Node ${machine.node || "?"}. ` +
    `Run ${machine.date || "?"}; load average (1/5/15 min) ${machine.load_start || "?"} at the start, ${end.load_end || "?"} at the end. ` +
    `During the runs the 1-minute load was ${loadRange}, which includes the benchmark's own generator and server (about 1.5–2). ` +
    `Median of ${machine.runs || "?"} runs of ${machine.seconds || "?"} s (after ${machine.warmup || "?"} s warm-up) per cell; ` +
    `generator, servers and redis share the same cores.`
);
out.push("");
out.push(
  "Throughput and server CPU per message (`ours` = `ahws serve --quiet`, release; `bare` = `ahws-baseline` with tokio-tungstenite's defaults, " +
    "the baseline of the targets; `bare 4K` = the same with a 4 KiB read buffer like ours; `AH` = Actionhero 29.3.5, node process only, its redis in brackets). " +
    "Targets: rate ≥ 0.9× bare, CPU ≤ bare + 1 µs:"
);
out.push("");
out.push("| workload | unit | ours | bare | bare 4K | AH | ours/bare | ours/bare 4K | ours/AH | CPU µs/msg ours | bare | bare 4K | AH (+redis) | rate target | CPU target |");
out.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|");
for (const w of steady) {
  const rate = (s) => med(w, s, (r) => r.rate);
  const cpu = (s) => med(w, s, (r) => r.server_cpu_us_per_msg);
  const redis = med(w, "actionhero", (r) => r.aux_cpu_us_per_msg);
  const [o, b, b4, a] = [rate("ahws"), rate("bare"), rate("bare4k"), rate("actionhero")];
  const [co, cb, cb4, ca] = [cpu("ahws"), cpu("bare"), cpu("bare4k"), cpu("actionhero")];
  const rb = ratio(o, b);
  const rateOk = rb == null ? "?" : rb >= 0.9 ? "met" : "**missed**";
  const cpuOk = co == null || cb == null ? "?" : co <= cb + 1 ? "met" : `**missed** (+${(co - cb).toFixed(1)})`;
  out.push(
    `| ${w} | ${unitOf(w)} | ${fmtRate(o)} | ${fmtRate(b)} | ${fmtRate(b4)} | ${fmtRate(a)} | ${fmtRatio(rb)} | ${fmtRatio(ratio(o, b4))} | ${fmtRatio(ratio(o, a))} | ` +
      `${fmt(co, 2)} | ${fmt(cb, 2)} | ${fmt(cb4, 2)} | ${fmt(ca, 1)}${redis == null ? "" : ` (+${fmt(redis, 1)})`} | ${rateOk} | ${cpuOk} |`
  );
}
out.push("");
out.push("Latency (µs, median over runs of each run's p50 / p99; broadcast: send → last member's delivery), generator CPU (% of one core) and errors (actions refused with `you have too many pending requests`, Actionhero's `simultaneousActions` 5, which ours mirrors):");
out.push("");
out.push("| workload | ours p50 / p99 | bare p50 / p99 | bare 4K p50 / p99 | AH p50 / p99 | gen CPU ours / bare / bare 4K / AH | errors/s ours / AH |");
out.push("|---|---:|---:|---:|---:|---:|---:|");
for (const w of steady) {
  const lat = (s) => `${fmt(med(w, s, (r) => r.latency_us && r.latency_us.p50), 0)} / ${fmt(med(w, s, (r) => r.latency_us && r.latency_us.p99), 0)}`;
  const g = (s) => fmt(med(w, s, (r) => r.gen_cpu_pct), 0);
  const e = (s) => fmtRate(med(w, s, (r) => (r.errors == null ? null : r.errors / r.window_s)));
  out.push(
    `| ${w} | ${lat("ahws")} | ${lat("bare")} | ${lat("bare4k")} | ${lat("actionhero")} | ${g("ahws")} / ${g("bare")} / ${g("bare4k")} / ${g("actionhero")} | ${e("ahws")} / ${e("actionhero")} |`
  );
}
const failures = [];
for (const w of workloads) for (const s of ["ahws", "bare", "bare4k", "actionhero"]) if (failedRuns(w, s)) failures.push(`${w}/${s}: ${failedRuns(w, s)}`);
if (failures.length) {
  out.push("");
  out.push(`Failed runs (not in the medians): ${failures.join(", ")}.`);
}
if (holds.length) {
  out.push("");
  out.push("Memory of idle connections (fresh server each; RSS from /proc/<pid>/status before connecting and 1 s after the last connection settled; every connection did welcome + detailsView):");
  out.push("");
  out.push("| server | connections | RSS before | RSS after | per connection | ≤ 16 KiB |");
  out.push("|---|---:|---:|---:|---:|:-:|");
  for (const w of holds) {
    for (const [s, label] of [["ahws", "ours"], ["bare", "bare (tungstenite defaults)"], ["bare4k", "bare 4K"], ["actionhero", "Actionhero"]]) {
      const r = cell(w, s)[0];
      if (!r) continue;
      const per = r.rss_per_conn_bytes;
      const ok = s === "ahws" ? (per != null && per <= 16384 ? "met" : "**missed**") : "";
      out.push(
        `| ${label} | ${r.count} | ${fmtRate(r.rss_before_kib / 1024)} MiB | ${fmtRate(r.rss_after_kib / 1024)} MiB | ${per == null ? "–" : (per / 1024).toFixed(1) + " KiB"} | ${ok} |`
      );
    }
  }
}
const md = out.join("\n") + "\n";

if (flag === "--update") {
  const text = fs.readFileSync(doc, "utf8");
  const start = "<!-- results:start -->";
  const stop = "<!-- results:end -->";
  const i = text.indexOf(start);
  const j = text.indexOf(stop);
  if (i < 0 || j < i) {
    console.error(`${doc}: markers ${start} / ${stop} not found`);
    process.exit(1);
  }
  fs.writeFileSync(doc, text.slice(0, i + start.length) + "\n" + md + text.slice(j));
} else {
  process.stdout.write(md);
}
