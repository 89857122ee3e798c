"use strict";
// Draws the review page from its embedded JSON. Every text from the data goes in with textContent
// (never innerHTML) and every link is built from "#" plus an encoded id, so data stays data.
(function () {
  const DATA = JSON.parse(document.getElementById("review-data").textContent);
  const PAGE = 25;
  const EQUAL = 0, DELETED = -1, INSERTED = 1;
  const VIEWS = ["overview", "records", "references", "dropped"];

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function link(anchor, text) {
    const a = el("a", null, text);
    a.href = "#" + anchor;
    return a;
  }
  function add(parent, ...children) {
    for (const child of children) if (child) parent.appendChild(child);
    return parent;
  }
  function section(title, ...children) {
    return add(el("div", "part"), el("h3", null, title), ...children);
  }
  function bullets(items) {
    const ul = el("ul");
    for (const item of items || []) ul.appendChild(el("li", null, item));
    return ul;
  }
  function labelled(label, items) {
    return (items && items.length) ? add(el("div"), el("strong", null, label), bullets(items)) : null;
  }
  function refAnchor(id) { return "reference-" + encodeURIComponent(id); }

  // --- the word diff: the response is the equal and deleted segments, the improvement the equal and inserted ones
  function diffSide(segments, kind) {
    const box = el("div", "text");
    for (const [op, text] of segments) {
      if (op === EQUAL) box.appendChild(document.createTextNode(text));
      else if (op === kind) box.appendChild(el(kind === DELETED ? "del" : "ins", null, text));
    }
    return box;
  }
  function sideText(segments, kind) {
    let text = "";
    for (const [op, part] of segments) if (op === EQUAL || op === kind) text += part;
    return text;
  }
  function wordCount(segments, kind) {
    let n = 0;
    for (const [op, text] of segments) if (op === kind) n += (text.match(/\w+/g) || []).length;
    return n;
  }
  function sides(segments, leftTitle, rightTitle) {
    return add(el("div", "sides"),
      add(el("div", "side"), el("h3", null, leftTitle), diffSide(segments, DELETED)),
      add(el("div", "side"), el("h3", null, rightTitle), diffSide(segments, INSERTED)));
  }

  // --- indexes
  const recordsOf = new Map();
  for (const r of DATA.records) {
    if (!recordsOf.has(r.ref)) recordsOf.set(r.ref, []);
    recordsOf.get(r.ref).push(r.n);
  }
  const droppedOf = new Map();
  (DATA.dropped || []).forEach((d, i) => { d.n = i; droppedOf.set(d.reference_id, (droppedOf.get(d.reference_id) || 0) + 1); });
  const knownRefs = new Set(DATA.references.map((r) => r.id));

  // --- cards
  function recordCard(r) {
    const card = el("article", "card");
    card.id = "record-" + r.n;
    const head = add(el("header"), link("record-" + r.n, "#" + r.n), el("span", "badge", r.feature), el("span", "badge", r.split));
    const ref = add(el("span", null, "reference "), knownRefs.has(r.ref) ? link(refAnchor(r.ref), r.ref) : el("span", null, r.ref));
    add(head, ref, el("span", null, "+" + wordCount(r.diff, INSERTED) + " / −" + wordCount(r.diff, DELETED) + " words"));
    if (r.judge) add(head, el("span", "badge verdict", "judge: " + r.judge.verdict));
    add(card, head, el("p", "text instruction", r.instruction), sides(r.diff, "Response", "Improved response"));
    const a = r.analysis || {}, s = r.strategy || {};
    add(card, add(el("div", "why"),
      section("Analysis", labelled("Strengths", a.original_strengths), labelled("Improvement opportunities", a.improvement_opportunities), labelled("Relevant feedback", a.relevant_feedback)),
      section("Implementation strategy", labelled("Planned changes", s.planned_changes), add(el("div"), el("strong", null, "Rationale"), el("p", "text", s.rationale)))));
    if (r.judge) {
      const details = Object.entries(r.judge.details || {}).map(([k, v]) => k + ": " + v);
      add(card, section("Judge", el("p", null, "verdict: " + r.judge.verdict), labelled("Reasons", r.judge.reasons), labelled("Details", details)));
    }
    return card;
  }

  function referenceCard(f) {
    const card = el("article", "card");
    card.id = refAnchor(f.id);
    const made = recordsOf.get(f.id) || [];
    const head = add(el("header"), link(refAnchor(f.id), "reference " + f.id), el("span", "badge", f.split));
    if (f.seed_split) add(head, el("span", null, "seed " + f.seed_split + " row " + f.seed_row));
    add(head, el("span", null, made.length + " records"));
    if (droppedOf.has(f.id)) add(head, el("span", null, droppedOf.get(f.id) + " dropped"));
    add(card, head);
    if (f.system) add(card, section("System turn", el("p", "text", f.system)));
    if (f.instruction || f.response) {
      add(card, add(el("div", "sides"),
        add(el("div", "side"), el("h3", null, "Reference instruction"), el("p", "text", f.instruction)),
        add(el("div", "side"), el("h3", null, "Reference response"), el("p", "text", f.response))));
    } else {
      add(card, el("p", "muted", "The seed's texts are not in this release (gated or private seed): join them back by seed split and row."));
    }
    const chips = (items) => { const box = el("div", "chips"); for (const item of items || []) box.appendChild(el("span", null, item)); return box; };
    add(card, add(el("div", "why"),
      section("Features", add(el("div"), el("strong", null, "Subject areas"), chips(f.subject_areas)), add(el("div"), el("strong", null, "Skills"), chips(f.skills))),
      section("Feedback", labelled("Strengths", f.strengths), labelled("How it could be better", f.improvements))));
    if (made.length) {
      const links = el("p");
      made.forEach((n, i) => { if (i) links.appendChild(document.createTextNode(" ")); links.appendChild(link("record-" + n, "#" + n)); });
      add(card, section("Records made from it", links));
    }
    return card;
  }

  function droppedCard(d) {
    const card = el("article", "card");
    card.id = "dropped-" + d.n;
    const head = add(el("header"), link("dropped-" + d.n, "dropped #" + d.n), el("span", "badge", d.stage), el("span", "badge verdict", d.reason));
    if (d.feature) add(head, el("span", "badge", d.feature));
    add(head, add(el("span", null, "reference "), knownRefs.has(d.reference_id) ? link(refAnchor(d.reference_id), d.reference_id) : el("span", null, d.reference_id)));
    add(card, head);
    if (d.instruction) add(card, el("p", "text instruction", d.instruction));
    if (d.diff) add(card, sides(d.diff, "Response", "Improved response"));
    else if (d.response) add(card, section("Response", el("p", "text", d.response)));
    return card;
  }

  // --- what a search matches
  function lower(parts) { return parts.filter((p) => p !== undefined && p !== null).join("\n").toLowerCase(); }
  function recordText(r) {
    const a = r.analysis || {}, s = r.strategy || {};
    return lower([r.instruction, sideText(r.diff, DELETED), sideText(r.diff, INSERTED), ...(a.original_strengths || []), ...(a.improvement_opportunities || []),
      ...(a.relevant_feedback || []), ...(s.planned_changes || []), s.rationale, r.judge && r.judge.reasons.join("\n")]);
  }
  function referenceText(f) {
    return lower([f.id, f.instruction, f.response, f.system, ...(f.subject_areas || []), ...(f.skills || []), ...(f.strengths || []), ...(f.improvements || [])]);
  }
  function droppedText(d) {
    return lower([d.instruction, d.response, d.improved_response, d.diff && sideText(d.diff, DELETED), d.diff && sideText(d.diff, INSERTED), d.reason]);
  }

  // --- a paged, filtered list with a focused item
  function List(name, items, card, text, fields, id) {
    this.name = name; this.items = items; this.card = card; this.text = text; this.fields = fields; this.id = id;
    this.shown = items.map((_, i) => i); this.page = 0; this.focus = -1; this.hay = null;
    this.form = document.querySelector('form[data-list="' + name + '"]');
    this.box = document.getElementById(name === "records" ? "record-list" : name === "references" ? "reference-list" : "dropped-list");
  }
  List.prototype.apply = function () {
    const want = {};
    for (const field of this.form.elements) if (field.name) want[field.name] = field.value.trim();
    const needle = (want.text || "").toLowerCase();
    if (needle && !this.hay) this.hay = this.items.map(this.text);
    this.shown = [];
    this.items.forEach((item, i) => {
      for (const [name, get] of Object.entries(this.fields)) {
        const value = want[name];
        if (!value) continue;
        const have = String(get(item));
        if (name === "ref" ? !have.startsWith(value) : have !== value) return;
      }
      if (needle && !this.hay[i].includes(needle)) return;
      this.shown.push(i);
    });
    this.page = 0; this.focus = -1;
    this.draw();
  };
  List.prototype.pages = function () { return Math.max(1, Math.ceil(this.shown.length / PAGE)); };
  List.prototype.draw = function () {
    this.box.replaceChildren();
    const start = this.page * PAGE;
    for (const i of this.shown.slice(start, start + PAGE)) this.box.appendChild(this.card(this.items[i]));
    if (!this.shown.length) this.box.appendChild(el("p", "muted", "Nothing matches."));
    for (const pager of document.querySelectorAll('.pager[data-list="' + this.name + '"]')) {
      const prev = el("button", null, "← previous"), next = el("button", null, "next →");
      prev.type = next.type = "button";
      prev.disabled = this.page === 0; next.disabled = this.page >= this.pages() - 1;
      prev.addEventListener("click", () => this.turn(-1));
      next.addEventListener("click", () => this.turn(1));
      const end = Math.min(start + PAGE, this.shown.length);
      pager.replaceChildren(prev, el("span", null, (this.shown.length ? start + 1 : 0) + "–" + end + " of " + this.shown.length + " (page " + (this.page + 1) + " of " + this.pages() + ")"), next);
    }
  };
  List.prototype.turn = function (step) {
    const page = Math.min(Math.max(this.page + step, 0), this.pages() - 1);
    if (page === this.page) return;
    this.page = page; this.focus = -1; this.draw();
    window.scrollTo(0, 0);
  };
  List.prototype.show = function (position) {  // position in `shown`
    if (position < 0 || position >= this.shown.length) return;
    const page = Math.floor(position / PAGE);
    if (page !== this.page) { this.page = page; this.draw(); }
    this.focus = position;
    for (const old of this.box.querySelectorAll(".focused")) old.classList.remove("focused");
    const node = document.getElementById(this.id(this.items[this.shown[position]]));
    if (node) { node.classList.add("focused"); node.scrollIntoView({ block: "start" }); }
  };
  List.prototype.reveal = function (index) {  // index in `items`: clear the filters if they hide it
    let position = this.shown.indexOf(index);
    if (position < 0) { this.form.reset(); this.apply(); position = this.shown.indexOf(index); }
    this.show(position);
  };
  List.prototype.step = function (delta) {
    const position = this.focus < 0 ? this.page * PAGE : this.focus + delta;
    this.show(Math.min(Math.max(position, 0), this.shown.length - 1));
    const item = this.items[this.shown[this.focus]];
    if (item) history.replaceState(null, "", "#" + this.id(item));
  };

  const lists = {
    records: new List("records", DATA.records, recordCard, recordText,
      { feature: (r) => r.feature, split: (r) => r.split, ref: (r) => r.ref, verdict: (r) => (r.judge ? r.judge.verdict : "") },
      (r) => "record-" + r.n),
    references: new List("references", DATA.references, referenceCard, referenceText, { ref: (f) => f.id }, (f) => refAnchor(f.id)),
  };
  if (DATA.dropped) {
    lists.dropped = new List("dropped", DATA.dropped, droppedCard, droppedText,
      { stage: (d) => d.stage, reason: (d) => d.reason, ref: (d) => d.reference_id }, (d) => "dropped-" + d.n);
  }

  function fillOptions(list, name, values) {
    const select = list.form.elements[name];
    const distinct = [...new Set(values.filter((v) => v !== ""))].sort();
    for (const value of distinct) { const option = el("option", null, value); option.value = value; select.appendChild(option); }
    return distinct.length;
  }
  fillOptions(lists.records, "feature", DATA.records.map((r) => r.feature));
  fillOptions(lists.records, "split", DATA.records.map((r) => r.split));
  if (fillOptions(lists.records, "verdict", DATA.records.map((r) => (r.judge ? r.judge.verdict : "")))) lists.records.form.elements.verdict.hidden = false;
  if (lists.dropped) {
    fillOptions(lists.dropped, "stage", DATA.dropped.map((d) => d.stage));
    fillOptions(lists.dropped, "reason", DATA.dropped.map((d) => d.reason));
  }
  for (const list of Object.values(lists)) {
    list.form.addEventListener("input", () => list.apply());
    list.form.addEventListener("submit", (event) => event.preventDefault());
  }

  // --- views and permalinks: #records, #record-12, #reference-<id>, #dropped-3
  let current = "overview";
  function open(view) {
    current = view;
    for (const name of VIEWS) document.getElementById("view-" + name).hidden = name !== view;
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.dataset.view === view);
  }
  function route() {
    const hash = decodeURIComponent(location.hash.slice(1));
    const item = hash.match(/^(record|reference|dropped)-(.+)$/);
    if (item) {
      const kind = item[1] === "record" ? "records" : item[1] === "reference" ? "references" : "dropped";
      const list = lists[kind];
      const index = !list ? -1 : kind === "references" ? DATA.references.findIndex((f) => f.id === item[2]) : Number(item[2]);
      open(kind);
      if (list && index >= 0 && index < list.items.length) list.reveal(index);
      return;
    }
    open(VIEWS.includes(hash) ? hash : "overview");
  }
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName);
    if (typing) { if (event.key === "Escape") event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const list = lists[current];
    if (event.key === "/" && list) { event.preventDefault(); list.form.elements.text.focus(); return; }
    if (!list) { if (event.key === "j") { location.hash = "records"; } return; }
    if (event.key === "j") list.step(1);
    else if (event.key === "k") list.step(-1);
    else if (event.key === "n") list.turn(1);
    else if (event.key === "p") list.turn(-1);
  });

  for (const list of Object.values(lists)) list.draw();
  route();
  document.documentElement.setAttribute("data-first-render-ms", String(Math.round(performance.now())));
})();
