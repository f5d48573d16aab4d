// The FAIR run viewer's page: list, filters, search and one question's detail. Every text from the run is
// put in the page as a DOM text node (never as HTML): model output is untrusted.
"use strict";
(function () {
  const mode = document.documentElement.dataset.mode;
  const FLAGS = ["accepted", "rejected", "fixed", "broken", "unparseable"];
  const loaded = {}, waiting = {};
  let meta = null, page = 1, selected = null, asked = 0;

  // static mode: data files call FAIR_VIEW.load(name, data)
  function load(name, data) { loaded[name] = data; (waiting[name] || []).forEach((f) => f(data)); delete waiting[name]; }
  window.FAIR_VIEW = { load: load };
  function loadScript(name) {
    if (name in loaded) return Promise.resolve(loaded[name]);
    return new Promise((resolve, reject) => {
      const first = !waiting[name];
      (waiting[name] = waiting[name] || []).push(resolve);
      if (!first) return;
      const tag = document.createElement("script");
      tag.src = "data/" + name + ".js";
      tag.onerror = () => reject(new Error("cannot load data/" + name + ".js"));
      document.head.appendChild(tag);
    });
  }
  async function getJSON(url) {
    const response = await fetch(url);
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const text = (value) => el("div", { class: "text" }, value === null || value === undefined ? "(none)" : value);

  // --- filters (the same test as fair_core/view/query.py's round_matches) --------------------------------
  function filters() {
    const form = document.getElementById("filters");
    const f = {};
    FLAGS.forEach((name) => { f[name] = form.elements[name].checked; });
    ["teacher", "round", "split", "search"].forEach((name) => { f[name] = form.elements[name].value.trim(); });
    return f;
  }
  function roundMatches(e, f) {
    if (!e) return false;
    const t = f.teacher;
    if (f.accepted && !(t ? e.acc.includes(t) : e.acc.length)) return false;
    if (f.rejected && !(t ? e.rej.includes(t) : e.rej.length)) return false;
    if (t && !(f.accepted || f.rejected) && !e.acc.concat(e.rej, e.fb).includes(t)) return false;
    if ((f.fixed && !e.fixed) || (f.broken && !e.broken)) return false;
    return !(f.unparseable && !e.unp);
  }
  async function staticPage(f, number) {
    const index = await loadScript("index");
    const needle = f.search.toLowerCase();
    const search = needle ? await loadScript("search") : null;
    const words = needle.match(/\w{3,}/g) || [];
    const positions = f.round !== "" ? [meta.rounds.indexOf(Number(f.round))] : meta.rounds.map((_, i) => i);
    const conditions = f.round !== "" || f.teacher || FLAGS.some((n) => f[n]);
    const rows = index.filter((row, i) => {
      if (f.split && row.split !== f.split) return false;
      if (needle) {
        const [question, found] = search[i].split("\n");
        const have = " " + found + " ";
        if (!question.includes(needle) && !(words.length && words.every((w) => have.includes(" " + w + " ")))) return false;
      }
      return !conditions || positions.some((p) => roundMatches(row.r[p], f));
    });
    const per = meta.per_page, pages = Math.max(1, Math.ceil(rows.length / per));
    return { total: rows.length, page: number, pages: pages, rows: rows.slice((number - 1) * per, number * per) };
  }
  function serverPage(f, number) {
    const params = new URLSearchParams({ page: String(number) });
    FLAGS.forEach((name) => { if (f[name]) params.set(name, "1"); });
    ["teacher", "round", "split", "search"].forEach((name) => { if (f[name]) params.set(name, f[name]); });
    return getJSON("api/page?" + params.toString());
  }
  async function detailOf(id) {
    if (mode !== "static") return getJSON("api/question?id=" + encodeURIComponent(id));
    const index = await loadScript("index");
    const position = index.findIndex((row) => row.id === id);
    const chunk = String(Math.floor(position / meta.per_chunk)).padStart(4, "0");
    return (await loadScript("detail-" + chunk))[id];
  }

  // --- the list ---------------------------------------------------------------------------------------
  function mark(value, unparseable) {
    if (value === null || value === undefined) return el("span", { class: "muted" }, "·");
    return el("span", { class: value ? "ok" : "bad" }, value ? "✓" : unparseable ? "?" : "✗");
  }
  function roundCell(e) {
    if (!e) return el("td", { class: "muted" }, "");
    const votes = e.acc.length || e.rej.length ? ` ${e.acc.length}/${e.rej.length}` : "";
    const title = (e.fixed ? "fixed" : e.broken ? "broken" : "") + (votes ? ` accepted ${e.acc.join(", ") || "none"}` : "");
    return el("td", { class: "mark", title: title }, mark(e.ok, e.unp), "→", mark(e.after, e.unp), votes);
  }
  async function showPage(number) {
    const count = document.getElementById("count");
    const ticket = ++asked;
    try {
      const f = filters();
      const result = mode === "static" ? await staticPage(f, number) : await serverPage(f, number);
      if (ticket !== asked) return; // a later query is under way: its answer is the one to show
      page = result.page;
      count.textContent = `${result.total} of ${meta.questions} questions match`;
      document.getElementById("pageinfo").textContent = `page ${result.page} of ${result.pages}`;
      document.getElementById("prev").disabled = result.page <= 1;
      document.getElementById("next").disabled = result.page >= result.pages;
      const body = document.querySelector("#questions tbody");
      body.replaceChildren(...result.rows.map((row) => {
        const tr = el("tr", { "data-id": row.id }, el("td", {}, row.id), el("td", {}, row.split),
          el("td", {}, row.q), el("td", {}, row.gold), row.r.map(roundCell));
        if (row.id === selected) tr.classList.add("selected");
        tr.addEventListener("click", () => showDetail(row.id));
        return tr;
      }));
    } catch (err) {
      count.replaceChildren(el("span", { class: "error" }, "error: " + err.message));
    }
  }

  // --- one question -----------------------------------------------------------------------------------
  function table(headers, rows) {
    return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
  }
  const yesNo = (v) => (v === null || v === undefined ? "?" : v ? "yes" : "no");
  function rationale(r) {
    const a = r.acceptance;
    const verdict = a ? (a.accepted ? "accepted" : "rejected") : "no decision";
    const why = a ? `${a.reason} (mean score ${a.mean_score === null ? "none" : a.mean_score.toFixed(2)} over ${a.n_valid} valid scores; gold check: ${yesNo(a.gold_ok)})` : "";
    return el("div", { class: "rationale " + (a ? verdict : "") },
      el("h4", {}, `Rationale by ${r.teacher}: ${verdict}`), el("p", {}, why),
      el("p", { class: "muted" }, `status ${r.status}; its final answer: ${r.predicted ?? "none"} (matches gold: ${yesNo(r.gold_ok)})`),
      text(r.text),
      r.reviews.length ? table(["reviewer", "score", "valid", "review"], r.reviews.map((v) =>
        [v.reviewer, v.score === null ? "none" : String(v.score), yesNo(v.valid), text(v.text)])) : el("p", { class: "muted" }, "no reviews"));
  }
  function roundSection(d, r) {
    const parts = [el("h3", {}, `Round ${r.round}` + (r.mistake ? ": a mistake of the student" : ""))];
    parts.push(table(["answer", "predicted", "correct", "completion"], r.answers.map((a) =>
      [a.label, a.predicted ?? "(unparseable)", a.correct ? "right" : a.unparseable ? "unparseable" : "wrong", text(a.completion)])));
    if (r.feedback.length) {
      parts.push(el("h4", {}, "Feedback"));
      r.feedback.forEach((f) => parts.push(el("p", {}, `${f.teacher} (${f.status})`), text(f.text)));
    }
    r.rationales.forEach((x) => parts.push(rationale(x)));
    if (r.samples.length) {
      parts.push(el("h4", {}, "Training samples built from it"));
      parts.push(table(["sample", "task", "teacher", "weight", "from round", "prompt / completion"], r.samples.map((s) =>
        [s.sample_id, s.task, s.teacher ?? "", String(s.weight), String(s.source_round ?? ""), el("div", {}, text(s.prompt), text(s.completion))])));
    }
    if (r.calls.length) {
      parts.push(el("details", {}, el("summary", {}, `${r.calls.length} teacher calls`),
        table(["teacher", "role", "reviewed", "status", "mode", "tokens in/out", "cost $", "error"], r.calls.map((c) =>
          [c.teacher, c.role, c.target ?? "", c.status, c.mode ?? "", `${c.prompt_tokens ?? 0}/${c.completion_tokens ?? 0}`,
            (c.cost_usd ?? 0).toFixed(5), c.error ?? ""]))));
    }
    return el("div", { class: "round" }, parts);
  }
  async function showDetail(id) {
    selected = id;
    document.querySelectorAll("#questions tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === id));
    const panel = document.getElementById("detail");
    try {
      const d = await detailOf(id);
      const review = d.review || {};
      panel.replaceChildren(el("div", {}, el("h2", {}, `${d.id} (${d.split}, ${d.dataset})`), text(d.question),
        d.context ? text(d.context) : null, d.options ? el("p", {}, "options: " + d.options.join(" | ")) : null,
        el("p", {}, el("b", {}, "gold answer: "), d.answer),
        d.solution ? el("details", {}, el("summary", {}, "gold solution"), text(d.solution)) : null,
        el("p", { class: "muted" }, `acceptance: ${review.aggregation ?? "mean"} of the valid scores > ${review.threshold ?? "?"}` +
          (review.gold_check ? ", and the rationale's answer must match gold" : "")),
        d.rounds.map((r) => roundSection(d, r))));
    } catch (err) {
      panel.replaceChildren(el("p", { class: "error" }, "error: " + err.message));
    }
  }

  async function start() {
    try {
      meta = mode === "static" ? await loadScript("meta") : await getJSON("api/meta");
    } catch (err) {
      document.getElementById("summary").replaceChildren(el("span", { class: "error" }, "error: " + err.message));
      return;
    }
    document.getElementById("title").textContent = `FAIR run ${meta.run_id}`;
    document.getElementById("summary").textContent =
      `${meta.questions} questions (${meta.train} training, ${meta.test} test), rounds ${meta.rounds.join(", ")}, teachers ${meta.teachers.join(", ")}`;
    meta.teachers.forEach((t) => document.getElementById("teacher").appendChild(el("option", { value: t }, t)));
    meta.rounds.forEach((k) => document.getElementById("round").appendChild(el("option", { value: String(k) }, String(k))));
    document.getElementById("head").replaceChildren(...["id", "split", "question", "gold"].map((h) => el("th", {}, h)),
      ...meta.rounds.map((k) => el("th", {}, `round ${k}`)));
    const form = document.getElementById("filters");
    form.addEventListener("submit", (event) => { event.preventDefault(); showPage(1); });
    form.querySelectorAll("input[type=checkbox], select").forEach((input) => input.addEventListener("change", () => showPage(1)));
    document.getElementById("prev").addEventListener("click", () => showPage(page - 1));
    document.getElementById("next").addEventListener("click", () => showPage(page + 1));
    await showPage(1);
  }
  start();
})();
