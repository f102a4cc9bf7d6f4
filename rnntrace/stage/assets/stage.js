// The rnntrace stage: the cell diagram, the time charts and the t controls, stepped in the browser.
//
// One payload per configuration (built by rnntrace/stage/payload.py) carries every
// step's numbers: the diagram's SVG is drawn once and each step fills in its frame (numbers,
// colours, hover formulas); each chart is a Vega view whose param `t_now` moves with t. No
// step goes back to the server. Hosts: the Streamlit component and the anywidget notebook widget
// (both through the default export, below), and `mount(el, payload, host)` for an offline lesson file.
//
// A host may pass { sync(t), fetch(t), keys, url }: sync hears the settled t (debounced), fetch is
// asked for the steps around t when t leaves the payload's window; keys: "page" (default: the keys
// step the stage wherever the focus is, as on a lesson page) or "focus" (only while the stage has
// the focus: a notebook's own keys stay the notebook's); url: false leaves the page's URL alone;
// pick({ field, unit, t }) hears a click on a number of the diagram (the dashboard's what-if editor).

const SETTLE_MS = 250; // Python hears t this long after the last step (the tables, the link, a reload)
const TYPING = new Set(["TEXTAREA", "SELECT"]);
const KEYS = { ArrowLeft: "prev", ArrowRight: "next", Home: "first", End: "last", " ": "play" };

// -- the page: one key listener, routed to the stage most recently mounted and still on the page --

const page = (globalThis.__rnntraceStage ||= { stages: [], t: null, keys: false, seekSeen: null });

function typing(el) {
  // keys belong to a field the user is typing in (and to an open select box), not to the stage
  if (!el) return false;
  if (el.isContentEditable || TYPING.has(el.tagName)) return true;
  if (el.getAttribute && el.getAttribute("role") === "slider") return true; // a focused slider keeps its arrow keys
  if (el.tagName !== "INPUT") return false;
  const type = (el.type || "text").toLowerCase();
  if (["checkbox", "radio", "range", "button", "submit", "file"].includes(type)) return false;
  if (el.getAttribute("role") === "combobox") return el.getAttribute("aria-expanded") === "true";
  return true;
}

function ownsKey(el, key) {
  // a focused gate name (a button drawn in the SVG) takes Space and Enter: they show its terms, not play
  return key === " " && !!el && !!el.closest && !!el.closest("g.toggle");
}

function escape(ev) {
  // Escape hides a gate's terms, wherever the focus is (only when one is open: the page's other uses stay)
  let hid = false;
  for (const s of page.stages) if (s.view && s.view.terms && s.root.isConnected) hid = s.view.terms.hide() || hid;
  if (hid) ev.stopPropagation();
}

function deepActive(doc) {
  let el = doc.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  return el;
}

function installKeys(doc) {
  if (page.keys) return;
  page.keys = true;
  doc.defaultView.addEventListener(
    "keydown",
    (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const action = KEYS[ev.key];
      page.stages = page.stages.filter((s) => s.root.isConnected);
      if (ev.key === "Escape") return escape(ev);
      const stage = page.stages.filter((s) => s.controls && s.host.keys !== "focus").at(-1);
      const active = deepActive(doc);
      if (!action || !stage || typing(active) || ownsKey(active, ev.key)) return;
      ev.preventDefault();
      ev.stopPropagation();
      stage.act(action);
    },
    true,
  );
}

// -- numbers ------------------------------------------------------------------------------------

function fromUrl(T, host) {
  if (host.url === false) return null;
  try {
    const raw = new URLSearchParams(window.location.search).get("t");
    const t = raw === null ? NaN : Number(raw);
    return Number.isInteger(t) && t >= 0 && t < T ? t : null;
  } catch {
    return null;
  }
}

function toUrl(t, host) {
  if (host.url === false) return;
  try {
    const url = new URL(window.location.href);
    url.searchParams.set("t", String(t));
    window.history.replaceState(window.history.state, "", url);
  } catch {
    // a file:// page without a query string, or a sandboxed frame: the URL is not ours to change
  }
}

// -- the diagram: the SVG once, then each step's frame ------------------------------------------

class Diagram {
  constructor(el, diagram, exercisePanel, onPick, termsHost) {
    el.innerHTML = diagram.svg; // Python's SVG: no script, no external resource (rnntrace/stage/diagram.py)
    this.svg = el.querySelector("svg");
    // a gate's two terms on a click on its name (not in an exercise: they would give the answer away)
    this.terms = diagram.gates && !exercisePanel ? new Terms(this.svg, diagram.gates, termsHost || el, !termsHost, !!onPick) : null;
    if (onPick) {
      el.classList.add("pickable"); // a number can be clicked: the host edits it
      this.svg.addEventListener("click", (ev) => {
        const cell = ev.target.closest("g.cell");
        const box = cell && cell.closest("g.box");
        if (box) onPick(box.dataset.field, Number(cell.dataset.unit));
      });
    }
    this.title = this.svg.querySelector("text.title");
    this.boxes = [...this.svg.querySelectorAll("g.box")].map((g) => ({
      title: g.querySelector(":scope > title"),
      more: g.querySelector("g.more > title"),
      cells: [...g.querySelectorAll("g.cell")].map((c) => ({
        title: c.querySelector("title"),
        rect: c.querySelector("rect"),
        text: c.querySelector("text.v"),
      })),
    }));
    this.exercise = exercisePanel ? new Exercise(exercisePanel) : null;
    this.reads = document.createElement("p"); // under the picture: the step's numbers in one sentence
    this.reads.className = "reads";
    el.append(this.reads);
  }

  paint(frame) {
    if (this.title) this.title.textContent = frame.title;
    this.reads.textContent = frame.reads || ""; // the step in one plain sentence (CellSpec.reading)
    this.reads.hidden = !frame.reads; // none on a slide or in exercise mode
    frame.boxes.forEach(([scale, more, cells], b) => {
      const box = this.boxes[b];
      box.title.textContent = scale;
      if (box.more) box.more.textContent = more;
      cells.forEach(([number, fill, ink, title, squeeze, edited], k) => {
        const cell = box.cells[k];
        cell.rect.setAttribute("fill", fill);
        cell.rect.setAttribute("stroke", edited ? "#f58518" : "none"); // a what-if edit set this number
        cell.rect.setAttribute("stroke-width", edited ? "3" : "0");
        cell.text.setAttribute("fill", ink);
        cell.text.textContent = number;
        cell.title.textContent = title;
        if (squeeze) {
          cell.text.setAttribute("textLength", squeeze);
          cell.text.setAttribute("lengthAdjust", "spacingAndGlyphs");
        } else cell.text.removeAttribute("textLength");
      });
    });
    if (this.exercise) this.exercise.show(frame, this.boxes);
    if (this.terms) this.terms.show(frame);
  }
}

// -- a gate's two terms: a click (or Enter / Space) on a gate's name shows them, a second click or Escape hides them --

const SUB = /([A-Za-z])_(\{[^}]*\}|[A-Za-z0-9]+)/g;

function rich(text) {
  // "x_t W_ifᵀ + b_if" with its subscripts as <sub> (the picture's labels write them the same way)
  const out = document.createDocumentFragment();
  let pos = 0;
  for (const m of text.matchAll(SUB)) {
    out.append(text.slice(pos, m.index) + m[1]);
    const sub = document.createElement("sub");
    sub.textContent = m[2].replace(/[{}]/g, "").replace("-", "−");
    out.append(sub);
    pos = m.index + m[0].length;
  }
  out.append(text.slice(pos));
  return out;
}

class Terms {
  constructor(svg, gates, host, overlay, picks) {
    this.gates = gates; // field -> { name, equation, rows, columns, meaning } (rnntrace/stage/terms.py)
    this.open = null;
    this.toggles = {};
    this.panel = document.createElement("section");
    this.overlay = overlay;
    this.panel.className = overlay ? "terms overlay" : "terms";
    this.panel.hidden = true;
    host.prepend(this.panel);
    const doing = picks ? "a click on one of its numbers edits that number (What-if)" : "";
    for (const g of svg.querySelectorAll("g.box")) {
      const gate = gates[g.dataset.field];
      const label = g.querySelector("text.label");
      const frame = g.querySelector(":scope > rect:last-of-type");
      if (!gate || !label || !frame) continue;
      // the gate's name becomes a button: the label row over the strip, focusable, with a label of its own
      const toggle = document.createElementNS(SVG_NS, "g");
      toggle.setAttribute("class", "toggle");
      toggle.setAttribute("tabindex", "0");
      toggle.setAttribute("role", "button");
      toggle.setAttribute("aria-expanded", "false");
      toggle.setAttribute("aria-label", `${gate.name}: show its two terms and their numbers`);
      toggle.dataset.gate = gate.name;
      const tip = document.createElementNS(SVG_NS, "title");
      tip.textContent =
        `Click (or Enter) to show ${gate.name}'s two terms with their numbers: ${gate.equation}. ` +
        `A second click or Escape hides them.` + (doing ? ` Here, ${doing}.` : "");
      const hit = document.createElementNS(SVG_NS, "rect"); // the whole label row answers, not only the glyphs
      const x = Number(frame.getAttribute("x")), y = Number(frame.getAttribute("y"));
      for (const [k, v] of Object.entries({ x, y: y - 20, width: frame.getAttribute("width"), height: 19, fill: "transparent" })) hit.setAttribute(k, String(v));
      toggle.append(tip, hit);
      label.replaceWith(toggle);
      toggle.append(label, ...g.querySelectorAll(":scope > text.note")); // the name and its σ / tanh: the label row
      toggle.addEventListener("click", (ev) => {
        ev.stopPropagation(); // not a pick of a number
        this.toggle(gate.name);
      });
      toggle.addEventListener("keydown", (ev) => {
        if (ev.key !== "Enter" && ev.key !== " ") return;
        ev.preventDefault();
        ev.stopPropagation();
        this.toggle(gate.name);
      });
      if (!picks) {
        // nothing else answers a click on the gate's numbers here: they show the terms too
        g.classList.add("terms-click");
        g.addEventListener("click", () => this.toggle(gate.name));
      }
      this.toggles[gate.name] = toggle;
    }
  }

  toggle(field) {
    this.open = this.open === field ? null : field;
    for (const [name, el] of Object.entries(this.toggles)) el.setAttribute("aria-expanded", String(name === this.open));
    this.show(this.frame);
  }

  hide() {
    if (this.open === null) return false;
    this.toggle(this.open);
    return true;
  }

  show(frame) {
    // the open gate's columns at this step (each frame carries every gate's numbers: no server round trip)
    this.frame = frame;
    const p = this.panel;
    p.replaceChildren();
    p.hidden = this.open === null || !frame || !frame.terms;
    if (p.hidden) return;
    const gate = this.gates[this.open];
    const head = document.createElement("div"); // not a <p>: a host page's paragraph styles (Streamlit's) stay out
    head.className = "equation";
    head.append(rich(`${gate.equation} at t = ${frame.t}`));
    const close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.textContent = "×";
    close.title = `hide ${gate.name}'s terms (Escape, or click ${gate.name} again)`;
    close.setAttribute("aria-label", `hide ${gate.name}'s terms`);
    close.addEventListener("click", () => this.hide());
    head.append(close);
    const note = document.createElement("div");
    note.className = "rows";
    note.append(rich(`${gate.meaning}; its two terms are ${gate.rows}.`));
    const table = document.createElement("table");
    table.setAttribute("aria-label", `${gate.name}'s two terms at t = ${frame.t}, one row per unit`);
    const tr = table.createTHead().insertRow();
    for (const c of ["unit", ...gate.columns]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.append(rich(c));
      tr.append(th);
    }
    const body = table.createTBody();
    frame.terms[this.open].forEach((numbers, k) => {
      const row = body.insertRow();
      row.dataset.unit = String(k);
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = String(k);
      row.append(th);
      for (const n of numbers) row.insertCell().textContent = n;
    });
    p.setAttribute("aria-label", `${gate.name}'s two terms at t = ${frame.t}`);
    p.dataset.gate = gate.name;
    p.append(head, note, table);
    if (this.overlay) {
      // over the picture (a slide: no charts beside it), its bottom just above the gate row: the gates' numbers stay in sight
      const host = p.parentElement.getBoundingClientRect();
      const row = this.toggles[this.open].getBoundingClientRect().top - host.top;
      p.style.bottom = `${Math.max(host.height - row + 4, 0)}px`;
    }
  }
}

// -- exercise mode: one number hidden (chosen in Python, rnntrace/stage/exercise.py), an answer box in its place --

const SVG_NS = "http://www.w3.org/2000/svg";

function numberIn(text) {
  // the number the picture prints, not a longer one containing it ("0.666" is not in "10.6661")
  return new RegExp(`(?<![0-9.])${text.replace(/[.+]/g, "\\$&")}(?![0-9])`, "g");
}

class Exercise {
  constructor(el) {
    this.panel = document.createElement("div");
    this.panel.className = "exercise";
    this.prompt = document.createElement("p");
    const check = document.createElement("button");
    check.type = "button";
    check.textContent = "Check";
    check.addEventListener("click", () => this.check());
    const reveal = document.createElement("button");
    reveal.type = "button";
    reveal.textContent = "Show me";
    reveal.addEventListener("click", () => this.reveal());
    this.message = document.createElement("p");
    this.message.className = "message";
    this.message.setAttribute("role", "status"); // read out when it changes
    this.panel.append(this.prompt, check, reveal, this.message);
    el.append(this.panel);
  }

  show(frame, boxes) {
    // paint() has just written every number and hover text of this step: hide one, put the box there
    if (this.slot) this.slot.remove();
    this.slot = null;
    this.hide = frame.hide;
    this.message.textContent = "";
    this.panel.hidden = !this.hide;
    if (!this.hide) return;
    const h = this.hide;
    const cell = boxes[h.box].cells[h.cell];
    this.shown = cell.text.textContent;
    this.worked = cell.title.textContent;
    const hidden = numberIn(this.shown);
    for (const box of boxes) for (const c of box.cells) c.title.textContent = c.title.textContent.replace(hidden, "?"); // no hover gives it away
    cell.text.textContent = "";
    cell.title.textContent = `${h.question}\n(your exercise: type it in the box)`;
    const r = cell.rect;
    this.slot = document.createElementNS(SVG_NS, "foreignObject");
    for (const a of ["x", "y", "width", "height"]) this.slot.setAttribute(a, r.getAttribute(a));
    this.input = document.createElement("input");
    this.input.type = "text";
    this.input.inputMode = "decimal";
    this.input.className = "answer";
    this.input.setAttribute("aria-label", h.label);
    this.input.placeholder = "?";
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") this.check();
    });
    this.slot.append(this.input);
    r.parentNode.append(this.slot);
    const decimals = (this.shown.split("e")[0].split(".")[1] || "").length;
    this.prompt.textContent =
      `Exercise: compute ${h.question.replace(/ = \?$/, "")} (hover the picture's numbers for their formulas) ` +
      `and type it in its box. Checked to the rounding of the ${decimals} decimals the ` +
      `picture shows: within ±${h.tolerance} of its printed value (its own rounding, and that of the numbers you start from).`;
  }

  check() {
    const h = this.hide;
    const raw = this.input.value.trim().replace(/\u2212/g, "-").replace(",", ".");
    const v = Number(raw);
    const target = Number(this.shown);
    const slack = h.tolerance * (1 + 1e-9);
    let text;
    if (!raw || !Number.isFinite(v)) text = `not yet: type a number, e.g. ${(0.123).toFixed(3)}`;
    else if (Math.abs(v - target) <= slack) text = `correct: ${h.label} = ${this.shown} (checked to the rounding shown, ±${h.tolerance})`;
    else if (target !== 0 && Math.abs(v + target) <= slack) text = `not yet: check the sign of ${h.label}`;
    else if (h.range && (v < h.range[0] || v > h.range[1])) text = `not yet: ${h.range_text}`;
    else text = `not yet: ${raw} is not ${h.label}; work through ${h.formula} with the numbers on the picture`;
    this.message.textContent = text;
    this.message.dataset.verdict = text.startsWith("correct") ? "correct" : "not yet";
  }

  reveal() {
    // the worked solution: the hover text the number had, the formula with its numbers
    this.message.textContent = `Worked: ${this.worked}`;
    this.message.dataset.verdict = "shown";
  }
}

// -- the charts: Vega views whose param t_now is the current step --------------------------------

async function vegaEmbed() {
  // the Vega bundle (vl-convert's, shipped in the package) sets window.vegaEmbed; it may load after us
  for (let i = 0; i < 500 && !window.vegaEmbed; i++) await new Promise((r) => setTimeout(r, 20));
  if (!window.vegaEmbed) throw new Error("the Vega bundle did not load");
  return window.vegaEmbed;
}

async function chart(el, spec, dark, onPick) {
  const embed = await vegaEmbed();
  // ast: Vega interprets its expressions instead of compiling them with new Function (a CSP without 'unsafe-eval')
  const options = { actions: false, renderer: "svg", ast: true, theme: dark ? "dark" : undefined };
  // like Streamlit's charts: the page's background, and the whole chart (title, axes) within its height
  const shown = { ...spec, background: "transparent", autosize: { type: "fit", contains: "padding" } };
  const { view } = await embed(el, shown, options);
  view.addEventListener("click", (_event, item) => {
    const d = item && item.datum;
    const t = d && (d.t ?? d.t0);
    if (Number.isFinite(t)) onPick(Math.round(t));
  });
  return view;
}

// -- the controls ---------------------------------------------------------------------------------

function button(label, action, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  b.title = title;
  b.setAttribute("aria-label", title);
  return b;
}

function controls(stage, payload) {
  const bar = document.createElement("div");
  bar.className = "bar";
  const buttons = [
    button("« First", "first", "first step (Home)"),
    button("‹ Prev", "prev", "previous step (←)"),
    button("Next ›", "next", "next step (→)"),
    button("Last »", "last", "last step (End)"),
    button("▶ Play", "play", "play / pause (Space)"),
  ];
  for (const b of buttons) {
    b.addEventListener("click", () => stage.act(b.dataset.action));
    bar.append(b);
  }
  const speed = document.createElement("select");
  speed.setAttribute("aria-label", "playing speed, steps per second");
  speed.title = "playing speed";
  for (const s of payload.speeds) speed.add(new Option(`${s} step/s`, String(s), false, s === payload.speed));
  speed.addEventListener("change", () => stage.setSpeed(Number(speed.value)));
  const status = document.createElement("span");
  status.className = "status";
  status.setAttribute("aria-live", "off");
  bar.append(speed, status);
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = "0";
  slider.max = String(payload.T - 1);
  slider.step = "1";
  slider.className = "slider";
  slider.setAttribute("aria-label", "time step t");
  slider.addEventListener("input", () => stage.go(Number(slider.value)));
  return { bar, slider, status, play: buttons[4], speed };
}

// -- the stage ------------------------------------------------------------------------------------

class Stage {
  constructor(root, payload, host) {
    this.root = root;
    this.host = host || {};
    this.charts = [];
    this.playing = false;
    this.load(payload);
    if (this.host.keys === "focus") {
      root.tabIndex = 0; // a click on the stage gives it the keys; elsewhere they stay the page's
      root.addEventListener("keydown", (ev) => {
        const action = KEYS[ev.key];
        if (ev.key === "Escape" && this.view.terms && this.view.terms.hide()) return ev.stopPropagation();
        const active = deepActive(root.ownerDocument);
        if (!action || ev.ctrlKey || ev.metaKey || ev.altKey || typing(active) || ownsKey(active, ev.key)) return;
        ev.preventDefault();
        ev.stopPropagation();
        this.act(action);
      });
    } else installKeys(root.ownerDocument);
    page.stages.push(this);
  }

  load(payload) {
    // a new payload: the same numbers (a rerun), a new window of steps, or a new configuration
    const same = this.payload && this.payload.id === payload.id;
    this.payload = payload;
    this.T = payload.T;
    this.window = payload.window;
    this.frames = payload.diagram ? payload.diagram.frames : null;
    if (same && this.view) {
      this.waiting = null; // a new window of steps (or the same numbers again after a rerun): t stays
      if (payload.seek && payload.seek[1] !== page.seekSeen) {
        page.seekSeen = payload.seek[1]; // Python moved t (a lesson step, a click on a server-drawn chart)
        this.show(payload.seek[0]);
      } else this.show(this.t, { quiet: true });
      return;
    }
    this.root.replaceChildren();
    this.root.classList.toggle("dark", !!payload.dark);
    this.root.classList.toggle("present", !!payload.present);
    this.speed = payload.speed;
    if (payload.controls) {
      this.controls = controls(this, payload);
      this.root.append(this.controls.bar, this.controls.slider);
    } else this.controls = null;
    const body = document.createElement("div");
    const exercise = payload.diagram && payload.exercise; // its panel goes beside the picture, where the charts would be
    body.className = payload.diagram && (payload.charts.length || exercise) ? "body split" : "body";
    this.root.append(body);
    const side = document.createElement("div");
    side.className = "charts";
    if (payload.diagram) {
      const el = document.createElement("div");
      el.className = "diagram";
      body.append(el);
      const pick = !exercise && this.host.pick && ((field, unit) => this.host.pick({ field, unit, t: this.t })); // an exercise's clicks are its own
      const split = payload.charts.length > 0; // a gate's terms go above the charts beside the picture, else over the picture
      this.view = new Diagram(el, payload.diagram, exercise ? side : null, pick, split && !exercise ? side : null);
    } else this.view = {};
    body.append(side);
    this.charts = [];
    this.chartsReady = Promise.all(
      payload.charts.map(async (c) => {
        const el = document.createElement("div");
        el.className = "chart";
        el.dataset.name = c.name;
        side.append(el);
        const view = await chart(el, c.spec, payload.dark, (t) => this.go(t));
        this.charts.push(view);
        view.signal("t_now", this.t).run();
        return view;
      }),
    ).catch((err) => {
      side.textContent = `The charts could not be drawn: ${err.message}`;
    });
    // where to start: a request of Python's not yet seen on this page, else the page's t (another tab's
    // stage), else the link's, else 0. Not a t inside the payload: payloads are shared by every session.
    const fresh = payload.seek && payload.seek[1] !== page.seekSeen;
    page.seekSeen = payload.seek ? payload.seek[1] : page.seekSeen;
    const start = (fresh ? payload.seek[0] : null) ?? (page.t !== null && page.t < this.T ? page.t : null) ?? fromUrl(this.T, this.host) ?? 0;
    this.show(Math.min(Math.max(start, 0), this.T - 1), { quiet: true });
  }

  act(action) {
    const moves = { first: 0, last: this.T - 1, prev: this.t - 1, next: this.t + 1 };
    if (action === "play") return this.toggle();
    if (action in moves) {
      this.pause();
      this.go(moves[action]);
    }
  }

  go(t) {
    this.show(Math.min(Math.max(t, 0), this.T - 1));
  }

  show(t, { quiet = false } = {}) {
    this.t = t;
    page.t = t;
    const [lo, hi] = this.window;
    const inside = t >= lo && t < hi;
    if (this.frames && inside) this.view.paint(this.frames[t - lo]);
    for (const view of this.charts) view.signal("t_now", t).runAsync();
    this.root.dataset.t = String(t);
    this.root.dataset.painted = inside ? String(t) : "";
    // for whoever watches the page (the tests' and benchmarks' clocks): a step was drawn, no rerun involved
    this.root.dispatchEvent(new CustomEvent("rnntrace-step", { bubbles: true, composed: true, detail: { t, painted: inside } }));
    if (this.controls) {
      const c = this.controls;
      c.slider.value = String(t);
      const err = this.payload.per_step ? this.payload.per_step[t] : null;
      c.status.textContent = `t = ${t} of 0..${this.T - 1}` + (err === null || err === undefined ? "" : ` · |replay − torch| at t: ${err.toExponential(0)}`);
      if (!inside) c.status.textContent += " · loading these steps…";
    }
    if (!inside || (!quiet && t >= hi - this.payload.prefetch)) this.fetch(t); // past the budget: the next window
    if (quiet) return;
    // stages without controls on the page (a slide's chart beside its diagram) follow this one
    for (const other of page.stages) if (other !== this && !other.controls && other.root.isConnected) other.show(t, { quiet: true });
    toUrl(t, this.host);
    clearTimeout(this.settle);
    this.settle = setTimeout(() => this.host.sync && this.host.sync(this.t), SETTLE_MS);
  }

  fetch(t) {
    // past the byte budget the payload holds a window of steps; ask the host for the one around t
    if (this.waiting === t || !this.host.fetch || (this.window[0] === 0 && this.window[1] === this.T)) return;
    this.waiting = t;
    this.host.fetch(t);
  }

  setSpeed(s) {
    this.speed = s;
    if (this.playing) this.play();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  play() {
    // steps on animation frames: at s steps/s a step is due every 1000/s ms, late frames catch up
    this.pause();
    if (this.T < 2) return;
    this.playing = true;
    if (this.controls) this.controls.play.textContent = "⏸ Pause";
    let due = performance.now() + 1000 / this.speed;
    const tick = (now) => {
      if (!this.playing) return;
      if (now >= due) {
        this.show((this.t + 1) % this.T);
        due = Math.max(due + 1000 / this.speed, now - 1000 / this.speed);
      }
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  pause() {
    this.playing = false;
    cancelAnimationFrame(this.frame);
    if (this.controls) this.controls.play.textContent = "▶ Play";
  }

  destroy() {
    this.pause();
    clearTimeout(this.settle);
    page.stages = page.stages.filter((s) => s !== this);
  }
}

/** Mount a stage on `el` (a notebook widget's or an offline file's element); returns the Stage. */
export function mount(el, payload, host) {
  const root = document.createElement("div");
  root.className = "rnntrace-stage";
  el.append(root);
  return new Stage(root, payload, host);
}

// -- the Streamlit host (components v2): called on every render with the latest data -----------

/** A payload from gzip-compressed JSON bytes (an ArrayBuffer or a view of one, e.g. a widget's DataView). */
export async function unpack(data) {
  // Python sends gzip-compressed JSON bytes (stage_payload.pack): the wire carries the budgeted size
  if (!(data instanceof ArrayBuffer || ArrayBuffer.isView(data))) return data;
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

// -- the notebook host (anywidget): the model's traits are the payload (gzip bytes), t and the Vega bundle -----

function loadVega(source) {
  // the bundle comes with the widget (a notebook has no file server of ours), imported once per page
  if (window.vegaEmbed || !source) return Promise.resolve();
  page.vega ||= import(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
  return page.vega;
}

async function render({ model, el }) {
  loadVega(model.get("_vega")); // the charts wait for it; the diagram does not
  const host = {
    keys: "focus",
    url: false,
    sync: (t) => {
      if (model.get("t") === t) return;
      model.set("t", t);
      model.save_changes();
    },
    fetch: (t) => model.send({ fetch: t }), // Python answers with a new payload (the window around t)
  };
  const stage = mount(el, await unpack(model.get("payload")), host);
  const onT = () => {
    const t = model.get("t");
    if (t !== stage.t) stage.go(t);
  };
  const onPayload = async () => stage.load(await unpack(model.get("payload")));
  model.on("change:t", onT);
  model.on("change:payload", onPayload);
  onT();
  return () => {
    model.off("change:t", onT);
    model.off("change:payload", onPayload);
    stage.destroy();
  };
}

// -- the default export: anywidget calls it with no argument (and wants { render }); Streamlit with its component

export default function (component) {
  if (component === undefined) return { render };
  const { data, parentElement, setStateValue } = component;
  let root = parentElement.querySelector(".rnntrace-stage");
  if (!root) {
    root = document.createElement("div");
    root.className = "rnntrace-stage";
    parentElement.append(root);
    root.host = {
      sync: (t) => setStateValue("t", t),
      fetch: (t) => setStateValue("t", t),
      pick: (p) => setStateValue("pick", { ...p, at: Date.now() }), // a second click on the same number is news too
    };
    root.queue = Promise.resolve();
  }
  // payloads are applied in the order they came, each after the previous one is decoded
  root.queue = root.queue
    .then(() => unpack(data))
    .then((payload) => {
      if (root.stage) root.stage.load(payload);
      else root.stage = new Stage(root, payload, root.host);
    })
    .catch((err) => {
      root.textContent = `The stage could not be drawn: ${err.message}`;
    });
  return () => root.stage && root.stage.destroy();
}
