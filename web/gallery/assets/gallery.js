// livecppn style gallery: one clock for every clip, filters, compare, and a bank tray. Plain JS, no framework;
// works opened from disk (file://): no network, no server.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const main = $("cards");
  const seconds = parseFloat(main.dataset.seconds) || 4;
  const cards = Array.from(main.querySelectorAll(".card"));
  const byId = new Map(cards.map((c) => [c.id, c]));
  const reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  // ---- the shared clock: every visible clip follows it (play, pause, scrub all at once) ----
  const clock = { base: 0, since: performance.now(), playing: !reduced };
  const now = () => {
    const t = clock.base + (clock.playing ? (performance.now() - clock.since) / 1000 : 0);
    return ((t % seconds) + seconds) % seconds;
  };
  const restart = (t, playing) => { clock.base = t; clock.since = performance.now(); clock.playing = playing; };
  let comparing = false;
  const compareVideos = () => Array.from($("compare-grid").querySelectorAll("video"));
  const activeVideos = () => comparing ? compareVideos()
    : cards.filter((c) => !c.hidden).map((c) => c.querySelector("video"));

  function follow(video, t, force) {
    if (video.readyState < 1) return;  // no metadata yet: nothing to seek
    const d = isFinite(video.duration) && video.duration > 0 ? video.duration : seconds;
    const target = t % d;
    let drift = video.currentTime - target;
    if (drift > d / 2) drift -= d;
    if (drift < -d / 2) drift += d;
    if (clock.playing) {
      if (video.paused) video.play().catch(() => {});  // refused autoplay: the next tick tries again
      if (force || Math.abs(drift) > 0.15) video.currentTime = target;
    } else {
      if (!video.paused) video.pause();
      if (Math.abs(drift) > 0.02) video.currentTime = target;
    }
  }

  function sync(force) {
    const t = now();
    const active = new Set(activeVideos());
    for (const v of document.querySelectorAll("video")) {
      if (active.has(v)) follow(v, t, force);
      else if (!v.paused) v.pause();  // off screen or filtered out: costs nothing
    }
    sound();
  }

  const scrub = $("scrub"), clockOut = $("clock"), playBtn = $("play");
  let scrubbing = false;
  function showClock() {
    const t = now();
    if (!scrubbing) scrub.value = t.toFixed(2);
    clockOut.value = t.toFixed(2) + " / " + seconds.toFixed(2) + " s";
    requestAnimationFrame(showClock);
  }
  function setPlaying(playing) {
    restart(now(), playing);
    playBtn.setAttribute("aria-pressed", String(playing));
    playBtn.textContent = playing ? "Pause all" : "Play all";
    sync(true);
  }
  playBtn.addEventListener("click", () => setPlaying(!clock.playing));
  scrub.addEventListener("input", () => { scrubbing = true; restart(parseFloat(scrub.value), clock.playing); sync(true); });
  scrub.addEventListener("change", () => { scrubbing = false; });

  // ---- sound: the clips share one track, so one clip (the first shown) speaks ----
  const soundBtn = $("sound");
  let soundOn = false;
  function sound() {
    const speaker = soundOn ? activeVideos()[0] : null;
    for (const v of document.querySelectorAll("video")) v.muted = v !== speaker;
  }
  soundBtn.addEventListener("click", () => {
    soundOn = !soundOn;
    soundBtn.setAttribute("aria-pressed", String(soundOn));
    soundBtn.textContent = soundOn ? "Sound on" : "Sound off";
    sound();
  });

  // ---- filters ----
  const family = $("family"), verdict = $("verdict"), search = $("search"), count = $("count");
  function filter() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const c of cards) {
      const ok = (!family.value || c.dataset.family === family.value)
        && (!verdict.value || c.dataset.verdict === verdict.value)
        && words.every((w) => c.dataset.search.includes(w));
      c.hidden = !ok;
      shown += ok;
    }
    count.value = shown === cards.length ? cards.length + " styles" : shown + " of " + cards.length + " styles";
    sync(true);
  }
  family.addEventListener("change", filter);
  verdict.addEventListener("change", filter);
  search.addEventListener("input", filter);

  // ---- compare: two to four chosen styles, large, side by side ----
  const chosen = [];
  const openBtn = $("compare-open"), compare = $("compare"), compareGrid = $("compare-grid");
  function pickCompare(card) {
    const i = chosen.indexOf(card.id);
    if (i >= 0) chosen.splice(i, 1);
    else { chosen.push(card.id); if (chosen.length > 4) chosen.shift(); }
    for (const c of cards) c.querySelector(".pick-compare").setAttribute("aria-pressed", String(chosen.includes(c.id)));
    openBtn.textContent = "Compare (" + chosen.length + ")";
    openBtn.disabled = chosen.length < 2;
  }
  function openCompare() {
    if (chosen.length < 2) return;
    compareGrid.replaceChildren(...chosen.map((id) => {
      const card = byId.get(id), fig = document.createElement("figure"), video = document.createElement("video");
      video.src = card.querySelector("video").getAttribute("src");
      video.muted = true; video.loop = true; video.playsInline = true; video.preload = "auto";
      const cap = document.createElement("figcaption");
      cap.textContent = card.dataset.name + " (" + (card.dataset.family || "no family") + ")";
      video.setAttribute("aria-label", cap.textContent);
      fig.append(video, cap);
      return fig;
    }));
    compareGrid.style.gridTemplateRows = chosen.length > 2 ? "1fr 1fr" : "1fr";
    comparing = true;
    compare.hidden = false;
    $("compare-close").focus();
    sync(true);
  }
  function closeCompare() {
    if (!comparing) return;
    comparing = false;
    compare.hidden = true;
    compareGrid.replaceChildren();
    openBtn.focus();
    sync(true);
  }
  openBtn.addEventListener("click", openCompare);
  $("compare-close").addEventListener("click", closeCompare);

  // ---- the bank tray: chosen styles in numbered slots, as a bank TOML livecppn loads ----
  const slots = [];
  const bankName = $("bank-name"), toml = $("bank-toml"), bankList = $("bank-slots"), bankStatus = $("bank-status");
  const tomlString = (s) => '"' + s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')
    .replace(/[\u0000-\u001f\u007f]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) + '"';
  function bankToml() {
    const lines = ["# A livecppn bank made in the style gallery. Save it as presets/banks/NAME.toml or in your",
      "# own banks folder (`livecppn paths` shows where), then play it: livecppn live --bank NAME",
      "name = " + tomlString(bankName.value.trim() || "gallery"), "", "[slots]"];
    slots.forEach((id, i) => {
      const c = byId.get(id), fam = c.dataset.bankFamily;
      lines.push((i + 1) + " = { style = " + tomlString(c.dataset.ref) + (fam ? ", family = " + tomlString(fam) : "") + " }");
    });
    if (!slots.length) lines.push("# (empty: add styles with \"Add to bank\")");
    return lines.join("\n") + "\n";
  }
  function showBank() {
    bankList.replaceChildren(...slots.map((id, i) => {
      const li = document.createElement("li"), label = document.createElement("span");
      label.textContent = (i + 1) + ". " + byId.get(id).dataset.name;
      const up = document.createElement("button"), out = document.createElement("button");
      up.type = out.type = "button";
      up.textContent = "↑"; up.disabled = i === 0;
      up.setAttribute("aria-label", "Move " + byId.get(id).dataset.name + " up a slot");
      up.addEventListener("click", () => { slots.splice(i - 1, 0, slots.splice(i, 1)[0]); showBank(); });
      out.textContent = "✕";
      out.setAttribute("aria-label", "Take " + byId.get(id).dataset.name + " out of the bank");
      out.addEventListener("click", () => { slots.splice(i, 1); showBank(); });
      li.append(label, up, out);
      return li;
    }));
    for (const c of cards) {
      const n = slots.indexOf(c.id), btn = c.querySelector(".pick-bank");
      btn.setAttribute("aria-pressed", String(n >= 0));
      btn.textContent = n >= 0 ? "In bank: slot " + (n + 1) : "Add to bank";
      c.classList.toggle("in-bank", n >= 0);
    }
    toml.value = bankToml();
  }
  function pickBank(card) {
    const i = slots.indexOf(card.id);
    if (i >= 0) slots.splice(i, 1); else slots.push(card.id);
    showBank();
  }
  bankName.addEventListener("input", showBank);
  $("bank-clear").addEventListener("click", () => { slots.length = 0; showBank(); });
  $("bank-copy").addEventListener("click", () => {
    const copied = () => { bankStatus.value = "Copied"; };
    const byHand = () => {
      toml.focus(); toml.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      bankStatus.value = ok ? "Copied" : "Selected: press Ctrl+C";
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(toml.value).then(copied, byHand);
    else byHand();
  });

  for (const c of cards) {
    c.querySelector(".pick-compare").addEventListener("click", () => pickCompare(c));
    c.querySelector(".pick-bank").addEventListener("click", () => pickBank(c));
  }

  // ---- keyboard: Space plays/pauses, arrows move between cards, C compares, B banks, Escape closes ----
  document.addEventListener("keydown", (e) => {
    const t = e.target, tag = t.tagName;
    if (e.key === "Escape" && comparing) { closeCompare(); return; }
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === " " && tag !== "BUTTON") { e.preventDefault(); setPlaying(!clock.playing); return; }
    const card = t.closest && t.closest(".card");
    if (!card || comparing) return;
    if (e.key === "c" || e.key === "C") pickCompare(card);
    else if (e.key === "b" || e.key === "B") pickBank(card);
    else if (["ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp"].includes(e.key) && t === card) {
      const shown = cards.filter((c) => !c.hidden), i = shown.indexOf(card);
      const cols = Math.max(1, Math.round(main.clientWidth / card.offsetWidth));
      const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[e.key];
      const next = shown[Math.min(shown.length - 1, Math.max(0, i + step))];
      if (next) { e.preventDefault(); next.focus(); }
    }
  });

  setPlaying(clock.playing);
  showBank();
  filter();
  setInterval(() => sync(false), 250);
  for (const v of document.querySelectorAll("video")) v.addEventListener("loadedmetadata", () => sync(true));
  requestAnimationFrame(showClock);
})();
